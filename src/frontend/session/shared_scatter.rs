//! A scattered read whose targets outnumber its connections: a node with
//! more physical tables than `scatter_connections_per_node` (or than its
//! pool can give) lends each of its connections several targets. Every
//! connection reads its targets one after the other, each answer read in
//! full (bounded), all connections at once; the answers are then merged in
//! target order as any scatter's. A scatter thus never needs more
//! connections per node than the cap, and waits for them in the pool's
//! queue instead of failing with 1040. Each target's warnings are read
//! right after its answer, before the connection's next target.
//!
//! Owns: that reading of shared connections. Must not choose connections
//! (that is `connections::bind_targets`) or merge rows (that is
//! `execute::scatter`).

use futures::future::join_all;

use super::pinned_reads::MAX_BUFFERED_BYTES;
use super::run_plan::Reply;
use crate::backend::BackendConn;
use crate::error::Result;
use crate::execute::cancel::{client_gone, Watched};
use crate::execute::merge::Budget;
use crate::execute::scatter::{self, read_answer, ReadAnswer, ShardSource};
use crate::execute::{Command, Encoding, Outcome};
use crate::frontend::SessionHandle;
use crate::router::shard::{MergeSpec, ShardTarget};

/// Runs target `t` on `conns[assign[t]]` as described above and streams
/// the merged answer to the client, cancellable by `KILL` and by the
/// client's departure.
#[allow(clippy::too_many_arguments)]
pub(super) async fn merge_shared(
    reply: Reply<'_>,
    handle: &SessionHandle,
    conns: &mut [&mut BackendConn],
    assign: &[usize],
    running: Vec<(std::sync::Arc<crate::backend::ServerPool>, u32)>,
    targets: &[&ShardTarget],
    encoding: &Encoding<'_>,
    merge: &MergeSpec,
    budget: Budget,
) -> Outcome {
    let watched = Watched::new(handle, running);
    let gone = client_gone(reply.client.get_ref());
    let Reply {
        client,
        caps,
        status,
        seq,
    } = reply;
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); conns.len()];
    for (t, &c) in assign.iter().enumerate() {
        if let Some(q) = queues.get_mut(c) {
            q.push(t);
        }
    }
    let statement = async {
        let reads = conns
            .iter_mut()
            .zip(&queues)
            .map(|(conn, queue)| read_in_turn(conn, queue, targets, encoding));
        let mut answers: Vec<Option<ReadAnswer>> = (0..targets.len()).map(|_| None).collect();
        for read in join_all(reads).await {
            match read {
                Ok(got) => {
                    for (t, a) in got {
                        answers[t] = Some(a);
                    }
                }
                Err(e) => {
                    let e = scatter::named_missing_table(e, merge);
                    return scatter::report_failure(e, client, seq).await;
                }
            }
        }
        let mut sources: Vec<ShardSource<'_>> = answers
            .into_iter()
            .flatten()
            .map(ShardSource::Read)
            .collect();
        scatter::merge_sources(
            &mut sources,
            encoding.protocol(),
            client,
            caps,
            seq,
            merge,
            budget,
            status,
        )
        .await
    };
    let outcome = watched.run(statement, gone).await;
    watched.finish(conns.iter_mut().map(|c| &mut **c), &outcome);
    outcome
}

/// One connection's targets, one after the other; the first error (the
/// server's or the connection's) stops it.
async fn read_in_turn(
    conn: &mut BackendConn,
    queue: &[usize],
    targets: &[&ShardTarget],
    encoding: &Encoding<'_>,
) -> Result<Vec<(usize, ReadAnswer)>> {
    let mut got = Vec::with_capacity(queue.len());
    for &t in queue {
        Command::for_target(encoding, targets[t])
            .send_on(conn)
            .await?;
        let answer = read_answer(conn, MAX_BUFFERED_BYTES).await?;
        if let Some(e) = answer.error() {
            return Err(e);
        }
        // Its warnings, before the connection's next target resets them.
        crate::execute::warnings::read_after(conn).await?;
        got.push((t, answer));
    }
    Ok(got)
}
