//! Deadlocks across nodes: two (or more) client transactions, each holding
//! a row lock on one node and waiting for another's on a different node.
//! No server sees the cycle (each sees one plain lock wait), so without
//! this they end at `innodb_lock_wait_timeout` (1205, 50 s by default).
//!
//! One detector task per proxy (`[routing] deadlock_check_ms`, 0 = off)
//! looks every period at the sessions' [`Slot`]s (in memory, no I/O). Only
//! when at least two statements of transactions have waited for their
//! answer longer than the period does it read every primary's lock waits
//! (one bounded query per primary: `INNODB_TRX` joined with
//! `INNODB_LOCK_WAITS`), maps the servers' thread ids to sessions through
//! the backend connections each session published, and builds the
//! wait-for graph between sessions. A cycle whose every member was still
//! waiting in the same statement before and after the reads is a deadlock
//! (a waiting transaction cannot release its locks): one victim is chosen
//! as InnoDB does (fewest rows modified, then the youngest), and its
//! session is told. The victim's session abandons the waiting statement,
//! ends the backend connection it waited on (`KILL`), rolls the
//! transaction back on every node (its other connections are closed) and
//! answers 1213 / 40001, as one server would; the others proceed. The
//! session learns it through its interrupt (`frontend::interrupt`).
//!
//! Only statements relayed from one backend connection
//! (`Session::relay_answer`, the statements of an interactive
//! transaction) publish their wait; a cycle through a scatter statement is
//! left to the servers' timeout.
//!
//! Owns: the slots' protocol, the detector task, the wait-for graph and
//! the choice of victims. Must not: roll back or answer anything itself
//! (the victim's session does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Proxy;
use crate::backend::{Role, ServerPool};
use crate::ops::event_stats::{EventStats, EVENTS};

/// What one session publishes for the detector (on its `SessionHandle`).
#[derive(Default)]
pub struct Slot {
    /// Its transaction's primary connections: (node, server thread id).
    held: Mutex<Vec<(usize, u32)>>,
    /// The statement waiting for its answer: (sequence, since, node,
    /// thread).
    waiting: Mutex<Option<Wait>>,
    seq: AtomicU64,
    /// The sequence of the statement chosen as a victim (the session's
    /// interrupt says when: [`super::interrupt::DEADLOCK`]).
    victim: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Wait {
    seq: u64,
    since: Instant,
    node: usize,
    thread: u32,
}

impl Slot {
    /// Publishes the transaction's primary connections `(node, thread)`
    /// (none outside a transaction), after each command.
    pub fn set_held(&self, held: impl Iterator<Item = (usize, u32)> + Clone) {
        let mut h = self.held.lock();
        // Compared in place: no list built per command.
        if !h.iter().copied().eq(held.clone()) {
            h.clear();
            h.extend(held);
        }
    }

    /// A statement starts waiting for its answer on `pool`'s connection
    /// `thread`: its sequence number (for [`Slot::chosen`]).
    pub fn begin_wait(&self, pool: &ServerPool, thread: u32) -> u64 {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if pool.server.role == Role::Primary {
            *self.waiting.lock() = Some(Wait {
                seq,
                since: Instant::now(),
                node: pool.server.node,
                thread,
            });
        }
        seq
    }

    /// The statement's answer came (or it was abandoned).
    pub fn end_wait(&self) {
        *self.waiting.lock() = None;
    }

    /// Whether the detector chose statement `seq` as a deadlock victim.
    pub fn is_victim(&self, seq: u64) -> bool {
        self.victim.load(Ordering::Acquire) == seq
    }

    fn wait(&self) -> Option<Wait> {
        *self.waiting.lock()
    }

    fn choose(&self, seq: u64) {
        self.victim.store(seq, Ordering::Release);
    }
}

/// Starts the detector (it reads `[routing] deadlock_check_ms` at every
/// period, so a reload turns it on or off); it ends with the proxy.
pub fn spawn(proxy: &Arc<Proxy>) {
    let proxy = Arc::downgrade(proxy);
    tokio::spawn(async move {
        loop {
            let Some(period) = period(&proxy) else {
                return;
            };
            let Some(period) = period else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            tokio::time::sleep(period).await;
            let Some(p) = proxy.upgrade() else {
                return;
            };
            round(&p, period).await;
        }
    });
}

/// The period in force: `None` when the proxy is gone, `Some(None)` off.
fn period(proxy: &Weak<Proxy>) -> Option<Option<Duration>> {
    let p = proxy.upgrade()?;
    let ms = p.config.load().routing.deadlock_check_ms;
    // MariaDB rebuilds its INNODB_TRX / INNODB_LOCK_WAITS image only when
    // it was last read more than 0.1 s ago: reading faster freezes it.
    Some((ms > 0).then(|| Duration::from_millis(ms.max(MIN_PERIOD_MS))))
}

/// The shortest period (see [`period`]).
const MIN_PERIOD_MS: u64 = 100;

/// One server's answer: (thread, rows modified, thread it waits for).
type TrxRow = (u32, u64, Option<u32>);

/// The longest one primary's lock-wait read may take.
const READ_TIMEOUT: Duration = Duration::from_millis(800);

const LOCK_WAITS: &str = "SELECT t.trx_mysql_thread_id, t.trx_rows_modified, \
    b.trx_mysql_thread_id FROM information_schema.INNODB_TRX t \
    LEFT JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = t.trx_id \
    LEFT JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id LIMIT 100000";

/// One detection round: the victims chosen.
pub async fn round(proxy: &Proxy, period: Duration) -> usize {
    let sessions = proxy.session_handles();
    let waits: Vec<(u32, Wait)> = sessions
        .iter()
        .filter_map(|(id, h)| h.deadlock.wait().map(|w| (*id, w)))
        .collect();
    if waits
        .iter()
        .filter(|(_, w)| w.since.elapsed() >= period)
        .count()
        < 2
    {
        return 0;
    }
    let mut owner: HashMap<(usize, u32), u32> = HashMap::new();
    for (id, h) in &sessions {
        for &key in h.deadlock.held.lock().iter() {
            owner.insert(key, *id);
        }
    }
    for (id, w) in &waits {
        owner.insert((w.node, w.thread), *id);
    }
    let reads = proxy.cluster.nodes.iter().map(|n| {
        let primary = n.primary();
        async move { tokio::time::timeout(READ_TIMEOUT, read_node(&primary)).await }
    });
    let answers = futures::future::join_all(reads).await;
    let mut edges = Vec::new();
    let mut weight: HashMap<u32, u64> = HashMap::new();
    for (node, answer) in answers.into_iter().enumerate() {
        let Ok(Some(rows)) = answer else {
            continue;
        };
        for (thread, modified, blocker) in rows {
            let Some(&waiter) = owner.get(&(node, thread)) else {
                continue;
            };
            *weight.entry(waiter).or_default() += modified;
            if let Some(&b) = blocker.and_then(|b| owner.get(&(node, b))) {
                if b != waiter && !edges.contains(&(waiter, b)) {
                    edges.push((waiter, b));
                }
            }
        }
    }
    let still = |id: u32| {
        let before = waits.iter().find(|(s, _)| *s == id).map(|(_, w)| w.seq);
        let now = sessions
            .iter()
            .find(|(s, _)| *s == id)
            .and_then(|(_, h)| h.deadlock.wait())
            .map(|w| w.seq);
        before.is_some() && before == now
    };
    let since = |id: u32| waits.iter().find(|(s, _)| *s == id).map(|(_, w)| w.since);
    let mut victims = 0;
    while let Some(cycle) = find_cycle(&edges) {
        edges.retain(|(a, b)| !(cycle.contains(a) && cycle.contains(b)));
        if !cycle.iter().all(|&id| still(id)) {
            continue;
        }
        let Some(&victim) = cycle.iter().min_by_key(|&&id| {
            // Fewest rows modified, then the youngest wait.
            (
                weight.get(&id).copied().unwrap_or(0),
                std::cmp::Reverse(since(id)),
            )
        }) else {
            continue;
        };
        edges.retain(|(a, b)| *a != victim && *b != victim);
        let Some((_, h)) = sessions.iter().find(|(s, _)| *s == victim) else {
            continue;
        };
        let Some(w) = h.deadlock.wait() else {
            continue;
        };
        tracing::info!(
            session = victim,
            cycle = ?cycle,
            "deadlock across nodes: rolling back the victim's transaction"
        );
        EventStats::bump(&EVENTS.deadlock_victims);
        h.deadlock.choose(w.seq);
        h.interrupt.raise(super::interrupt::DEADLOCK);
        victims += 1;
    }
    victims
}

/// The transactions of `pool`'s server and whom each waits for; `None`
/// when the server could not be read.
async fn read_node(pool: &Arc<ServerPool>) -> Option<Vec<TrxRow>> {
    let mut conn = crate::backend::xa_recovery::checkout_primary(pool)
        .await
        .ok()?;
    let rows = crate::backend::xa_recovery::query_rows(&mut conn, LOCK_WAITS)
        .await
        .ok()?;
    conn.release();
    let num = |v: &Option<Vec<u8>>| -> Option<u64> {
        std::str::from_utf8(v.as_deref()?).ok()?.parse().ok()
    };
    Some(
        rows.iter()
            .filter_map(|r| {
                let thread = num(r.first()?)? as u32;
                let modified = num(r.get(1)?).unwrap_or(0);
                let blocker = r.get(2).and_then(num).map(|b| b as u32);
                Some((thread, modified, blocker))
            })
            .collect(),
    )
}

/// A cycle of the directed graph `edges` (its members in order), if any.
pub fn find_cycle(edges: &[(u32, u32)]) -> Option<Vec<u32>> {
    let mut next: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    let mut done: Vec<u32> = Vec::new();
    let mut starts: Vec<u32> = next.keys().copied().collect();
    starts.sort_unstable();
    for start in starts {
        if done.contains(&start) {
            continue;
        }
        // Iterative DFS: the path and, per step, the next edge to try.
        let mut path: Vec<(u32, usize)> = vec![(start, 0)];
        while let Some(&mut (node, ref mut at)) = path.last_mut() {
            let out = next.get(&node).map(Vec::as_slice).unwrap_or(&[]);
            let Some(&to) = out.get(*at) else {
                done.push(node);
                path.pop();
                continue;
            };
            *at += 1;
            if let Some(pos) = path.iter().position(|(n, _)| *n == to) {
                return Some(path[pos..].iter().map(|(n, _)| *n).collect());
            }
            if !done.contains(&to) {
                path.push((to, 0));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;

    #[test]
    fn cycles_are_found_and_chains_are_not() {
        assert_eq!(find_cycle(&[]), None);
        assert_eq!(find_cycle(&[(1, 2), (2, 3)]), None);
        assert_eq!(find_cycle(&[(1, 2), (3, 2), (1, 3)]), None);
        assert_eq!(find_cycle(&[(1, 2), (2, 1)]), Some(vec![1, 2]));
        assert_eq!(
            find_cycle(&[(5, 1), (1, 2), (2, 3), (3, 1)]),
            Some(vec![1, 2, 3])
        );
        let mut c = find_cycle(&[(7, 8), (9, 7), (8, 9), (1, 7)]).unwrap();
        c.sort_unstable();
        assert_eq!(c, vec![7, 8, 9]);
    }
}
