//! What may stop a statement relayed from one backend connection before
//! its answer ends, watched beside the relay in the session's task: the
//! session's interrupt (`KILL`, its server marked down, a deadlock victim
//! choice: [`crate::frontend::interrupt`]), the query timeout and, for
//! retryable replica reads, the stall deadline (`backend::stall`).
//!
//! Both deadlines count from the send and only until the answer starts, so
//! one timer serves them: the session's reusable one, moved forward per
//! statement (no timer registered per statement; none polled when neither
//! deadline applies).
//!
//! Owns: that watch and what it reports. Must not touch the connection or
//! the client (the caller acts on the [`Stop`]).

use std::future::poll_fn;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::backend::stall::looks_frozen;
use crate::backend::ServerPool;
use crate::execute::relay::FirstByte;
use crate::frontend::interrupt::{DEADLOCK, DOWN, KILL};
use crate::frontend::SessionHandle;

/// Why the watch gave up on the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The session was killed.
    Killed,
    /// The server was marked down by the health checker.
    Down,
    /// The deadlock detector chose the statement (no byte of its answer
    /// had come).
    Victim,
    /// No byte within the query timeout (`[backend] query_timeout_ms`).
    Timeout(Duration),
    /// No byte within the stall deadline and the server looks frozen: how
    /// long the answer was awaited.
    Stalled(Duration),
}

/// The watch of one statement (see the module doc).
pub(super) struct AnswerWatch<'a> {
    pub handle: &'a SessionHandle,
    pub pool: &'a Arc<ServerPool>,
    /// The statement's deadlock-wait sequence (`deadlock::Slot::begin_wait`).
    pub wait: u64,
    pub first_byte: &'a FirstByte,
    pub timeout: Option<Duration>,
    pub stall: Option<Duration>,
    pub timer: Pin<&'a mut Sleep>,
}

enum Event {
    Raised(u8),
    Timer,
    Probed(bool),
}

impl<'a> AnswerWatch<'a> {
    /// Completes when the statement must stop; never while its answer goes
    /// on normally.
    pub async fn stop(mut self) -> Stop {
        let sent = Instant::from_std(self.first_byte.sent);
        let mut timeout_at = self.timeout.map(|t| sent + t);
        let mut next_check = self.stall.map(|d| sent + d);
        let pool = self.pool;
        let stall = self.stall.unwrap_or_default();
        // The liveness probe of a stalled answer's server (rare: boxed).
        let mut probe: Option<Pin<Box<dyn Future<Output = bool> + Send + 'a>>> = None;
        let mut mask = KILL | DOWN | DEADLOCK;
        let mut armed = self.arm(None, next_check, timeout_at, false);
        loop {
            let timer = &mut self.timer;
            let signal = &self.handle.interrupt;
            let event = poll_fn(|cx| {
                if let Poll::Ready(bits) = Pin::new(&mut signal.raised(mask)).poll(cx) {
                    return Poll::Ready(Event::Raised(bits));
                }
                if let Some(p) = probe.as_mut() {
                    if let Poll::Ready(frozen) = p.as_mut().poll(cx) {
                        return Poll::Ready(Event::Probed(frozen));
                    }
                }
                if armed.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Timer);
                }
                Poll::Pending
            })
            .await;
            let started = self.first_byte.took().is_some();
            match event {
                Event::Raised(bits) if bits & KILL != 0 => return Stop::Killed,
                Event::Raised(bits) if bits & DOWN != 0 => return Stop::Down,
                Event::Raised(_) => {
                    // A victim choice: this statement's, while nothing of
                    // its answer came (a choice of an earlier statement, or
                    // one made once the answer started, is ignored).
                    self.handle.interrupt.clear(DEADLOCK);
                    if self.handle.deadlock.is_victim(self.wait) {
                        if !started {
                            return Stop::Victim;
                        }
                        mask &= !DEADLOCK;
                    }
                }
                Event::Timer if started => {
                    // The deadlines cover waiting for the answer to start.
                    (timeout_at, next_check, probe, armed) = (None, None, None, None);
                    continue;
                }
                Event::Timer => {
                    // Fired: set again below whatever comes next.
                    armed = None;
                    let now = Instant::now();
                    if let Some(t) = timeout_at.filter(|t| *t <= now) {
                        return Stop::Timeout(t - sent);
                    }
                    if next_check.is_some_and(|c| c <= now) && probe.is_none() {
                        next_check = None;
                        probe = Some(Box::pin(looks_frozen(pool, stall)));
                    }
                }
                Event::Probed(frozen) => {
                    probe = None;
                    if !started && frozen {
                        return Stop::Stalled(self.first_byte.sent.elapsed());
                    }
                    if !started {
                        next_check = Some(Instant::now() + stall / 2);
                    }
                }
            }
            armed = self.arm(armed, next_check, timeout_at, probe.is_some());
        }
    }

    /// Sets the timer to the earliest deadline in force (the next stall
    /// check is not one while a probe runs); returns it.
    fn arm(
        &mut self,
        armed: Option<Instant>,
        next_check: Option<Instant>,
        timeout_at: Option<Instant>,
        probing: bool,
    ) -> Option<Instant> {
        let check = next_check.filter(|_| !probing);
        let at = match (check, timeout_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = at.filter(|at| Some(*at) != armed) {
            self.timer.as_mut().reset(at);
        }
        at
    }
}
