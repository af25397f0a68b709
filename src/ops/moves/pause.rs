//! The write pause of a switch that pauses several nodes' tables at once
//! (a split's, a resplit's): each proxy pauses the writes to each node's
//! tables (`SET SHARDCAT PAUSE WRITES`), the steps' end times are marked,
//! after the placement file's write each proxy switches (`recovery`:
//! one that refuses is reloaded or reported, and not resumed), the proxies
//! that took the switch (or all, when nothing switched) resume, and the
//! pause's steps are printed.
//!
//! Owns: those statements to the proxies and the report. Must not: lock,
//! wait for or verify the servers, write the placement file (the callers).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::recovery;

/// A write pause under way.
pub(super) struct Pause {
    proxies: Vec<(String, Conn)>,
    /// Node → its paused tables (`a,b`).
    tables: BTreeMap<String, String>,
    hold_ms: u64,
    /// (proxy index, node) paused.
    paused: Vec<(usize, String)>,
    /// Proxies that did not take the switch (by index): never resumed.
    unswitched: Vec<bool>,
    start: Instant,
    /// When each step ended, for the report.
    marks: Vec<(&'static str, Duration)>,
}

impl Pause {
    /// A pause of `tables` (node → its tables) on `proxies`, at most
    /// `max_pause` (each proxy's pause ends by itself then).
    pub(super) fn new(
        proxies: Vec<(String, Conn)>,
        tables: BTreeMap<String, Vec<String>>,
        max_pause: Duration,
    ) -> Pause {
        let unswitched = vec![false; proxies.len()];
        Pause {
            proxies,
            tables: tables.into_iter().map(|(n, t)| (n, t.join(","))).collect(),
            hold_ms: max_pause.as_millis() as u64,
            paused: Vec::new(),
            unswitched,
            start: Instant::now(),
            marks: Vec::new(),
        }
    }

    /// Pauses the writes on every proxy (the step `drain`).
    pub(super) async fn pause_all(&mut self) -> Result<(), String> {
        self.start = Instant::now();
        for (p, (addr, conn)) in self.proxies.iter_mut().enumerate() {
            for (node, tables) in &self.tables {
                conn.query_drop(format!(
                    "SET SHARDCAT PAUSE WRITES {node} {tables} FOR {}",
                    self.hold_ms
                ))
                .await
                .map_err(|e| format!("proxy {addr}: {e}"))?;
                self.paused.push((p, node.clone()));
            }
        }
        self.mark("drain");
        Ok(())
    }

    /// The time since the pause began.
    pub(super) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Marks the end of a step.
    pub(super) fn mark(&mut self, step: &'static str) {
        self.marks.push((step, self.start.elapsed()));
    }

    /// Switches every proxy (after the placement file's write); a line per
    /// proxy that took neither the switch nor a reload.
    pub(super) async fn switch_all(&mut self) -> Vec<String> {
        let statements: Vec<String> = self
            .tables
            .iter()
            .map(|(node, tables)| format!("SET SHARDCAT SWITCH {node} {tables}"))
            .collect();
        let (switched, failed) = recovery::switch_proxies(&mut self.proxies, &statements).await;
        for (p, ok) in switched.into_iter().enumerate() {
            self.unswitched[p] = !ok;
        }
        self.mark("switch");
        failed
    }

    /// Resumes the writes on every paused proxy that did not miss the
    /// switch, prints the steps (`last` names the step ending now); the
    /// pause.
    pub(super) async fn resume(
        &mut self,
        last: &'static str,
        say: &mut dyn FnMut(String),
    ) -> Duration {
        for (p, node) in &self.paused {
            if self.unswitched[*p] {
                continue;
            }
            let (addr, conn) = &mut self.proxies[*p];
            let resumed = conn
                .query_drop(format!(
                    "SET SHARDCAT RESUME WRITES {node} {}",
                    self.tables[node]
                ))
                .await;
            if let Err(e) = resumed {
                say(format!(
                    "proxy {addr}: resume failed ({e}); its pause ends by itself"
                ));
            }
        }
        let pause = self.start.elapsed();
        let mut before = Duration::ZERO;
        let steps: Vec<String> = self
            .marks
            .iter()
            .chain([(last, pause)].iter())
            .map(|(what, at)| {
                let ms = at.saturating_sub(before).as_millis();
                before = *at;
                format!("{what} {ms}")
            })
            .collect();
        say(format!("pause (ms): {}", steps.join(", ")));
        pause
    }

    /// Closes the proxy connections.
    pub(super) async fn close(self) {
        for (_, conn) in self.proxies {
            let _ = conn.disconnect().await;
        }
    }
}
