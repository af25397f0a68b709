//! Writes that run on several backend connections at once (split INSERT
//! rows, unkeyed UPDATE/DELETE, broadcast copies, DDL fan-out), and the
//! commit or rollback that ends them together.
//!
//! Owns: sending one command per connection, summing the OKs, and the one
//! all-or-nothing path (START TRANSACTION … COMMIT/ROLLBACK per
//! connection). Must not choose connections or answer the client.

use mysql_common::constants::StatusFlags;

use super::command::Command;
use super::scatter::read_write_answers;
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::OkPacket;

/// Sends each connection its command, then reads every answer and sums the
/// OKs (the first error wins). When a send fails, the answers of the
/// commands already sent are still read, so those connections stay in step.
pub async fn run_on_all(
    conns: &mut [&mut BackendConn],
    commands: &[Command<'_>],
    kind: WriteKind,
) -> Result<OkPacket> {
    let mut sent = 0;
    let mut failure = None;
    for (conn, command) in conns.iter_mut().zip(commands) {
        if let Err(e) = command.send_on(conn).await {
            failure = Some(e);
            break;
        }
        sent += 1;
    }
    let files: Vec<Option<&[u8]>> = commands.iter().map(Command::local_file).collect();
    let answers = read_write_answers(&mut conns[..sent], &files, kind).await;
    let result = match failure {
        Some(e) => Err(e),
        None => match answers {
            // Before a COMMIT resets them: what `SHOW WARNINGS` will list.
            Ok(ok) if ok.warnings > 0 => {
                super::warnings::read_from(conns[..sent].iter_mut().map(|c| &mut **c))
                    .await
                    .map(|()| ok)
            }
            other => other,
        },
    };
    for conn in conns.iter_mut() {
        conn.warning_rows = None;
    }
    result
}

/// Runs a write on every connection; with `wrap`, inside a transaction per
/// connection that commits only when every connection succeeded. A COMMIT
/// that fails on one connection rolls back those not committed yet, and
/// the error says which servers committed.
pub async fn write_all_or_nothing(
    conns: &mut [&mut BackendConn],
    commands: &[Command<'_>],
    kind: WriteKind,
    wrap: bool,
) -> Result<OkPacket> {
    if wrap {
        for conn in conns.iter_mut() {
            conn.query_drop("START TRANSACTION").await?;
        }
    }
    let result = run_on_all(conns, commands, kind).await;
    if !wrap {
        return result;
    }
    let ended = end_all(conns, result.is_ok()).await;
    let mut ok = result?;
    ended?;
    ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
    Ok(ok)
}

/// COMMIT (`commit`) or ROLLBACK on every usable connection, in order.
/// When a COMMIT fails, the connections after it are rolled back instead
/// and the error names the servers that had committed.
pub async fn end_all(conns: &mut [&mut BackendConn], commit: bool) -> Result<()> {
    let mut committed: Vec<String> = Vec::new();
    let mut failed: Option<(String, ProxyError)> = None;
    for conn in conns.iter_mut() {
        if conn.broken {
            continue;
        }
        let end = if commit && failed.is_none() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        match conn.query_drop(end).await {
            Ok(()) if end == "COMMIT" => committed.push(conn.server.name.clone()),
            Ok(()) => {}
            Err(e) => {
                conn.broken = true;
                if end == "COMMIT" {
                    failed = Some((conn.server.name.clone(), e));
                }
            }
        }
    }
    match failed {
        None => Ok(()),
        Some((server, cause)) => Err(ProxyError::CommitIncomplete {
            server,
            committed,
            cause: cause.to_string(),
        }),
    }
}

/// [`write_all_or_nothing`] for connections that each run several
/// commands: command `t` (made by `command(t)`) runs on connection
/// `assign[t]`; every connection runs its commands one after the other,
/// the connections in step (round by round), inside one transaction per
/// connection with `wrap`. The first error stops the rounds.
pub async fn write_assigned<'c>(
    conns: &mut [&mut BackendConn],
    assign: &[usize],
    command: impl Fn(usize) -> (Command<'c>, Option<std::sync::Arc<[u32]>>),
    kind: WriteKind,
    wrap: bool,
) -> Result<OkPacket> {
    if wrap {
        for conn in conns.iter_mut() {
            conn.query_drop("START TRANSACTION").await?;
        }
    }
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); conns.len()];
    for (t, &c) in assign.iter().enumerate() {
        if let Some(q) = queues.get_mut(c) {
            q.push(t);
        }
    }
    let rounds = queues.iter().map(Vec::len).max().unwrap_or(0);
    let mut result = Ok(OkPacket::default());
    for r in 0..rounds {
        let mut round: Vec<&mut BackendConn> = Vec::new();
        let mut commands = Vec::new();
        for (c, conn) in conns.iter_mut().enumerate() {
            if let Some(&t) = queues[c].get(r) {
                // (With the client's numbers of its rows, if split.)
                let (next, rows) = command(t);
                conn.warning_rows = rows;
                round.push(&mut **conn);
                commands.push(next);
            }
        }
        match (run_on_all(&mut round, &commands, kind).await, &mut result) {
            (Ok(ok), Ok(total)) => super::scatter::add_ok(total, ok),
            (Err(e), _) => {
                result = Err(e);
                break;
            }
            (Ok(_), Err(_)) => break,
        }
    }
    if !wrap {
        return result;
    }
    let ended = end_all(conns, result.is_ok()).await;
    let mut ok = result?;
    ended?;
    ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
    Ok(ok)
}
