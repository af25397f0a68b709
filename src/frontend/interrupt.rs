//! One interrupt signal per session: what stops a statement that waits on
//! a server, raised by others and read by the session's own task.
//!
//! `KILL` of the session (another session's `KILL`), the proxy draining,
//! the health checker
//! marking a server down (for the session running a statement on it; see
//! [`spawn_down_watch`]) and the cross-node deadlock detector choosing the
//! session's waiting statement as a victim each set a bit and wake the
//! session task. A statement registers nothing of its own: the session's
//! futures poll [`Interrupt::raised`], which keeps one waker (the session
//! task's) in place, so the common path costs two atomic operations.
//!
//! Owns: the bits, their waker and the task that turns a server's mark-down
//! into the interrupts of the sessions using it. Must not decide what an
//! interrupted statement answers (that is `session::execute_one` and
//! `execute::cancel`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

use super::Proxy;
use crate::backend::ServerPool;

/// The session was killed (`KILL`); stays raised.
pub const KILL: u8 = 1;
/// A server the running statement uses was marked down (cleared when the
/// next statement publishes its servers).
pub const DOWN: u8 = 2;
/// The deadlock detector chose a statement of the session (which one:
/// `deadlock::Slot`; cleared by the statement that looks).
pub const DEADLOCK: u8 = 4;
/// The proxy drains (graceful shutdown); stays raised.
pub const DRAIN: u8 = 8;

/// The signal (on the session's `SessionHandle`).
#[derive(Default)]
pub struct Interrupt {
    bits: AtomicU8,
    waker: AtomicWaker,
}

impl Interrupt {
    /// Raises `why` and wakes the session's task.
    pub fn raise(&self, why: u8) {
        self.bits.fetch_or(why, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Lowers `which`.
    pub fn clear(&self, which: u8) {
        if self.bits.load(Ordering::Relaxed) & which != 0 {
            self.bits.fetch_and(!which, Ordering::AcqRel);
        }
    }

    /// The raised bits among `mask`.
    pub fn bits(&self, mask: u8) -> u8 {
        self.bits.load(Ordering::Acquire) & mask
    }

    /// Completes with the raised bits among `mask` once one is raised.
    pub fn raised(&self, mask: u8) -> Raised<'_> {
        Raised { signal: self, mask }
    }
}

/// See [`Interrupt::raised`].
pub struct Raised<'a> {
    signal: &'a Interrupt,
    mask: u8,
}

impl Future for Raised<'_> {
    type Output = u8;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
        let bits = self.signal.bits(self.mask);
        if bits != 0 {
            return Poll::Ready(bits);
        }
        self.signal.waker.register(cx.waker());
        // Raised between the load and the registration: not missed.
        match self.signal.bits(self.mask) {
            0 => Poll::Pending,
            bits => Poll::Ready(bits),
        }
    }
}

/// Watches every server of the proxy: when the health checker marks one
/// down, the sessions running a statement on it are interrupted
/// ([`DOWN`]). One task per server; they end with the proxy.
pub fn spawn_down_watch(proxy: &Arc<Proxy>) {
    for pool in proxy.cluster.all_pools() {
        let mut marks = pool.stats.down_epoch.subscribe();
        let pool = Arc::downgrade(pool);
        let proxy: Weak<Proxy> = Arc::downgrade(proxy);
        tokio::spawn(async move {
            while marks.changed().await.is_ok() {
                let (Some(proxy), Some(pool)) = (proxy.upgrade(), pool.upgrade()) else {
                    return;
                };
                proxy.interrupt_running_on(&pool);
            }
        });
    }
}

impl Proxy {
    /// Raises [`DOWN`] for the sessions running a statement on `pool`
    /// (their published backends name it).
    pub fn interrupt_running_on(&self, pool: &Arc<ServerPool>) {
        for (_, handle) in self.session_handles() {
            let backends = handle.backends.lock();
            if backends.iter().any(|(p, _)| Arc::ptr_eq(p, pool)) {
                handle.interrupt.raise(DOWN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raise_wakes_the_waiter_and_bits_stay_until_cleared() {
        let signal = Arc::new(Interrupt::default());
        let raiser = signal.clone();
        let waiter = tokio::spawn(async move { raiser.raised(KILL | DOWN).await });
        tokio::task::yield_now().await;
        signal.raise(DEADLOCK);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        signal.raise(DOWN);
        assert_eq!(waiter.await.unwrap(), DOWN);
        assert_eq!(signal.bits(0xFF), DOWN | DEADLOCK);
        signal.clear(DOWN | DEADLOCK);
        assert_eq!(signal.bits(0xFF), 0);
        signal.raise(KILL);
        assert_eq!(signal.raised(KILL).await, KILL);
    }
}
