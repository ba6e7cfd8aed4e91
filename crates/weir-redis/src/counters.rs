//! Live counts of a Redis source or sink, readable while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) read: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) reclaimed: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) ack_failures: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) trimmed: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) added: AtomicU64,
}

impl Counts {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What a [`RedisSource`](crate::RedisSource) or a
/// [`RedisSink`](crate::RedisSink) has done so far; clones share the
/// counts.
///
/// # Examples
///
/// ```
/// use weir_redis::RedisSource;
///
/// let source = RedisSource::new("redis://127.0.0.1:6379/", "packets", "ingest", "host-a");
/// let counters = source.counters();
/// assert_eq!((counters.read(), counters.acked()), (0, 0));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RedisCounters(pub(crate) Arc<Counts>);

impl RedisCounters {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Entries read for the first time (`XREADGROUP … >`).
    pub fn read(&self) -> u64 {
        Self::get(&self.0.read)
    }

    /// This consumer's own pending entries read again: on start, and after
    /// a reconnection (a reply may have been lost with the connection).
    pub fn redelivered(&self) -> u64 {
        Self::get(&self.0.redelivered)
    }

    /// Entries taken over from consumers idle longer than the claim
    /// threshold (`XAUTOCLAIM`).
    pub fn reclaimed(&self) -> u64 {
        Self::get(&self.0.reclaimed)
    }

    /// Entries acknowledged (`XACK`) after their outcome was durable.
    pub fn acked(&self) -> u64 {
        Self::get(&self.0.acked)
    }

    /// Entries whose acknowledgement could not be sent (Redis stayed down
    /// past the reconnect policy): they stay pending and are delivered
    /// again, so the store sees them twice (at-least-once).
    pub fn ack_failures(&self) -> u64 {
        Self::get(&self.0.ack_failures)
    }

    /// Entries moved to the dead-letter stream because they were delivered
    /// more than `max_deliveries` times.
    pub fn dead_lettered(&self) -> u64 {
        Self::get(&self.0.dead_lettered)
    }

    /// Pending entries found deleted from the stream (trimmed before they
    /// were processed), acknowledged since nothing is left of them.
    pub fn trimmed(&self) -> u64 {
        Self::get(&self.0.trimmed)
    }

    /// Connections opened again after one failed.
    pub fn reconnects(&self) -> u64 {
        Self::get(&self.0.reconnects)
    }

    /// Entries a [`RedisSink`](crate::RedisSink) added (`XADD`) and Redis
    /// confirmed.
    pub fn added(&self) -> u64 {
        Self::get(&self.0.added)
    }
}
