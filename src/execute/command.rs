//! How one statement reaches one backend connection: a COM_QUERY, or a
//! prepared statement's long data and COM_STMT_EXECUTE (the statement is
//! prepared lazily on the connection and cached there).
//!
//! This is the only place where the text and the binary protocol differ on
//! the way to a server; how their rows come back differs only in
//! `merge::binary` (decoding a binary row).
//!
//! Owns: encoding one target's command for the protocol the client used.
//! Must not: choose connections, read answers, retry, or touch the client.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::frontend::prepared::{self, BoundParam, ExecutePackets, ExecuteRequest};
use crate::router::shard::ShardTarget;
use crate::wire::command;

/// The protocol of the client's statement, with what a binary execute needs
/// to bind its parameters into any target.
#[derive(Clone, Copy)]
pub enum Encoding<'a> {
    /// COM_QUERY: each target's physical SQL as text.
    Text,
    /// COM_STMT_EXECUTE: each target's physical SQL prepared on its
    /// connection, the client's parameters remapped to its placeholders.
    Binary {
        request: &'a ExecuteRequest,
        bound: &'a [BoundParam],
        long_data: &'a [(u16, Vec<u8>)],
    },
}

/// Which protocol rows come back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// COM_QUERY results: text rows.
    Text,
    /// COM_STMT_EXECUTE results: binary rows, merged as canonical text
    /// rows (`merge::binary`) and re-encoded.
    Binary,
}

impl Encoding<'_> {
    pub fn protocol(&self) -> Protocol {
        match self {
            Encoding::Text => Protocol::Text,
            Encoding::Binary { .. } => Protocol::Binary,
        }
    }
}

/// One statement for one connection.
pub enum Command<'a> {
    /// A command packet sent as it is (COM_QUERY, COM_FIELD_LIST, …).
    Packet(std::borrow::Cow<'a, [u8]>),
    /// A COM_QUERY of a shard target's text, framed straight into the
    /// connection's write buffer (`BackendConn::send_query`).
    Query(&'a str),
    /// A prepared statement: `sql` is prepared on the connection unless it
    /// is cached there, then `packets` are built with its backend id.
    Execute {
        sql: StmtText<'a>,
        packets: ExecutePackets<'a>,
    },
    /// A `LOAD DATA LOCAL INFILE` COM_QUERY and the file its server will
    /// ask for (sent by `scatter::read_write_answers`).
    LoadData { packet: Vec<u8>, file: &'a [u8] },
}

/// The text of a prepared statement to run: the client's own (shared with
/// its statement), or a shard target's (borrowed from the plan: copied
/// only when a connection prepares it for the first time).
pub enum StmtText<'a> {
    Shared(Arc<str>),
    Target(&'a str),
}

impl StmtText<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            StmtText::Shared(s) => s,
            StmtText::Target(s) => s,
        }
    }

    /// The text to keep in a connection's statement cache.
    pub fn to_shared(&self) -> Arc<str> {
        match self {
            StmtText::Shared(s) => s.clone(),
            StmtText::Target(s) => Arc::from(*s),
        }
    }
}

/// A COM_QUERY payload for `sql`.
pub fn query_packet(sql: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(command::QUERY);
    payload.extend_from_slice(sql.as_bytes());
    payload
}

impl<'a> Command<'a> {
    /// The command that runs shard target `t` in `encoding`.
    pub fn for_target(encoding: &Encoding<'a>, t: &'a ShardTarget) -> Command<'a> {
        match *encoding {
            Encoding::Text => match &t.local_file {
                Some(file) => Command::LoadData {
                    packet: query_packet(&t.sql),
                    file: file.0.as_slice(),
                },
                None => Command::Query(&t.sql),
            },
            Encoding::Binary {
                request,
                bound,
                long_data,
            } => Command::Execute {
                sql: StmtText::Target(&t.sql),
                packets: ExecutePackets::Target {
                    request,
                    bound,
                    map: &t.params,
                    long_data,
                },
            },
        }
    }

    /// The file a `LOAD DATA LOCAL INFILE` command answers its server's
    /// request with.
    pub fn local_file(&self) -> Option<&[u8]> {
        match self {
            Command::LoadData { file, .. } => Some(file),
            _ => None,
        }
    }

    /// Sends the command on `conn` (preparing it there first if needed).
    /// A server refusing to prepare, or a packet the server would refuse
    /// as larger than its `max_allowed_packet` (not sent), is
    /// `ProxyError::Backend` and leaves the connection usable; any other
    /// failure marks it broken.
    pub async fn send_on(&self, conn: &mut BackendConn) -> Result<()> {
        let limit = conn.server.max_packet.load(Ordering::Relaxed);
        let sent = match self {
            Command::Packet(p) => {
                refuse_oversized(p.len(), limit)?;
                conn.send_command(p).await
            }
            Command::Query(sql) => {
                refuse_oversized(sql.len() + 1, limit)?;
                conn.send_query(sql).await
            }
            Command::LoadData { packet, .. } => {
                refuse_oversized(packet.len(), limit)?;
                conn.send_command(packet).await
            }
            Command::Execute { sql, packets } => {
                // A parameter the server would refuse is not sent: MariaDB
                // would keep its statement failing until a reset.
                if limit > 0 && packets.longest_long_data() > limit {
                    return Err(ProxyError::Backend(
                        ProxyError::LongDataTooLong.to_err_packet(),
                    ));
                }
                let backend_id = match prepared::ensure_prepared(conn, sql).await {
                    Ok(Ok(id)) => id,
                    Ok(Err(refused)) => return Err(ProxyError::Backend(refused)),
                    Err(e) => {
                        conn.broken = true;
                        return Err(e);
                    }
                };
                let sent = match packets.single(backend_id).transpose()? {
                    // The common case: one packet, no lists built.
                    Some(p) => {
                        refuse_oversized(p.len(), limit)?;
                        conn.send_command(&p).await
                    }
                    None => {
                        let built = packets.build(backend_id)?;
                        for p in &built {
                            refuse_oversized(p.len(), limit)?;
                        }
                        let refs: Vec<&[u8]> = built.iter().map(Vec::as_slice).collect();
                        conn.send_commands(&refs).await
                    }
                };
                conn.scoped_variables = crate::backend::connection::sets_variables_for_statement(
                    sql.as_str().as_bytes(),
                );
                sent
            }
        };
        if sent.is_err() {
            conn.broken = true;
        }
        sent
    }
}

/// What the server answers a command packet of `len` bytes when its
/// `max_allowed_packet` is `limit` (0: unknown, sent as it is): MariaDB
/// refuses a payload of `max_allowed_packet` bytes or more with 1153 and
/// closes the connection, so the proxy gives that error without sending
/// and keeps the connection (measured in `tests/oversized.rs`).
fn refuse_oversized(len: usize, limit: usize) -> Result<()> {
    if limit > 0 && len >= limit {
        return Err(ProxyError::Backend(
            ProxyError::PacketTooLarge.to_err_packet(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::refuse_oversized;

    #[test]
    fn packets_from_the_servers_limit_up_are_refused() {
        for limit in [1024usize, 16 << 20, 64 << 20] {
            for len in limit - 3..limit + 3 {
                let refused = refuse_oversized(len, limit).is_err();
                assert_eq!(refused, len >= limit, "len {len} limit {limit}");
            }
        }
        assert!(refuse_oversized(usize::MAX, 0).is_ok(), "unknown limit");
    }
}
