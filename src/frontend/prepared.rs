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
//! Owns: statement registry and execute-packet surgery. Must not route.

use std::sync::Arc;

use mysql_common::constants::CapabilityFlags;

use crate::backend::connection::BackendStatement;
use crate::backend::BackendConn;
use crate::error::ProxyError;
use crate::execute::ClientStream;
use crate::sql::Classified;
use crate::wire::command;
use crate::wire::packets::{encode_eof, is_err, ErrPacket, Reader};

pub struct ClientStatement {
    pub sql: Arc<str>,
    pub classified: Classified,
    pub params: u16,
    pub columns: u16,
    /// Two bytes per parameter, from the last execute that bound types.
    param_types: Option<Vec<u8>>,
    pub long_data: Vec<(u16, Vec<u8>)>,
    /// The node its tables live on, when the sharding rules place them
    /// (single-node tables); `None`: the session's node.
    pub node: Option<usize>,
}

/// An execute request with the parameter block split out.
pub struct ExecuteRequest {
    flags: u8,
    null_bitmap: Vec<u8>,
    types: Vec<u8>,
    values: Vec<u8>,
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
            node: None,
        }
    }

    pub fn append_long_data(&mut self, param: u16, data: &[u8]) {
        if param >= self.params {
            return;
        }
        match self.long_data.iter_mut().find(|(p, _)| *p == param) {
            Some((_, buf)) => buf.extend_from_slice(data),
            None => self.long_data.push((param, data.to_vec())),
        }
    }

    /// Splits a COM_STMT_EXECUTE payload; remembers bound types.
    pub fn parse_execute(&mut self, payload: &[u8]) -> Result<ExecuteRequest, ProxyError> {
        let bad = || ProxyError::WrongArguments("mysqld_stmt_execute");
        let mut r = Reader::new(payload.get(5..).ok_or_else(bad)?);
        let flags = r.u8().ok_or_else(bad)?;
        let _iterations = r.u32().ok_or_else(bad)?;
        let n = self.params as usize;
        if n == 0 {
            return Ok(ExecuteRequest {
                flags,
                null_bitmap: Vec::new(),
                types: Vec::new(),
                values: Vec::new(),
                params: 0,
            });
        }
        let null_bitmap = r.take(n.div_ceil(8)).ok_or_else(bad)?.to_vec();
        let bound = r.u8().ok_or_else(bad)?;
        if bound == 1 {
            let types = r.take(2 * n).ok_or_else(bad)?.to_vec();
            self.param_types = Some(types);
        }
        let types = self.param_types.clone().ok_or_else(bad)?;
        Ok(ExecuteRequest {
            flags,
            null_bitmap,
            types,
            values: r.rest().to_vec(),
            params: self.params,
        })
    }
}

impl ExecuteRequest {
    /// The packets to send to a backend where the statement has
    /// `backend_id`: long data first (no replies), then the execute with
    /// types always bound.
    pub fn backend_packets(&self, backend_id: u32, long_data: &[(u16, Vec<u8>)]) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(long_data.len() + 1);
        for (param, data) in long_data {
            let mut p = Vec::with_capacity(7 + data.len());
            p.push(command::STMT_SEND_LONG_DATA);
            p.extend_from_slice(&backend_id.to_le_bytes());
            p.extend_from_slice(&param.to_le_bytes());
            p.extend_from_slice(data);
            out.push(p);
        }
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
        out.push(p);
        out
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
) -> Result<Option<PreparedMeta>, (ProxyError, bool)> {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(command::STMT_PREPARE);
    payload.extend_from_slice(sql.as_bytes());
    conn.send_command(&payload).await.map_err(|e| (e, false))?;
    let first = conn.read_packet().await.map_err(|e| (e, false))?.payload;
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

/// The backend id of `sql` on `conn`, preparing it there first if needed.
/// The inner `Err` is the server refusing to prepare.
pub async fn ensure_prepared(
    conn: &mut BackendConn,
    sql: &Arc<str>,
) -> Result<Result<u32, ErrPacket>, ProxyError> {
    if let Some(s) = conn.cached_statement(sql) {
        return Ok(Ok(s.id));
    }
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
    for _ in 0..(params as usize + columns as usize) {
        conn.read_packet().await?;
    }
    conn.remember_statement(
        sql.clone(),
        BackendStatement {
            id,
            params,
            columns,
        },
    );
    Ok(Ok(id))
}
