//! A simulated database for flow-control tests and benchmarks: its
//! latency rises once more than `k` requests are in flight (a queueing
//! model: it serves `k` at a time), and it may be down for a while.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The simulated database refused a request: it is down.
///
/// ```
/// assert_eq!(weir_testkit::sim::Down.to_string(), "the database is down (simulated outage)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database is down (simulated outage)")]
pub struct Down;

/// A database that serves `k` requests at a time, each in `base` (plus up
/// to `jitter` of it at random): with `c > k` requests in flight each
/// takes `base · c / k`, so its throughput stays at `k / base` while its
/// latency grows, as a real one's does once its connections or disks
/// are busy. During an outage every request fails after `base`.
/// Time is tokio's, so it runs on a paused clock.
///
/// ```
/// use std::time::Duration;
/// use weir_testkit::sim::SimDatabase;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let db = SimDatabase::new(4, Duration::from_millis(10));
/// let start = tokio::time::Instant::now();
/// // Eight at once: twice its capacity, so each takes twice as long.
/// let writes: Vec<_> = (0..8).map(|_| db.write()).collect();
/// for write in futures::future::join_all(writes).await {
///     assert!(write.is_ok());
/// }
/// assert_eq!(start.elapsed(), Duration::from_millis(20));
/// assert_eq!(db.most_in_flight(), 8);
/// # }
/// ```
#[derive(Clone)]
pub struct SimDatabase {
    inner: Arc<Inner>,
}

struct Inner {
    k: u32,
    base: Duration,
    jitter: f64,
    outage: Option<(Instant, Instant)>,
    in_flight: AtomicU32,
    most_in_flight: AtomicU32,
    writes: AtomicU64,
    refused: AtomicU64,
    rng: Mutex<u64>,
}

impl SimDatabase {
    /// A database that serves `k` requests at a time in `base` each.
    pub fn new(k: u32, base: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                k: k.max(1),
                base,
                jitter: 0.0,
                outage: None,
                in_flight: AtomicU32::new(0),
                most_in_flight: AtomicU32::new(0),
                writes: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                rng: Mutex::new(0x9E37_79B9_7F4A_7C15),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("configure the database before sharing it"));
        change(&mut inner);
        Self { inner: Arc::new(inner) }
    }

    /// Each request takes up to `share` more of its time, at random (from
    /// a fixed seed: runs repeat).
    pub fn jitter(self, share: f64) -> Self {
        self.with(|inner| inner.jitter = share)
    }

    /// Down from `from` to `to` after now.
    pub fn outage(self, from: Duration, to: Duration) -> Self {
        let now = Instant::now();
        self.with(|inner| inner.outage = Some((now + from, now + to)))
    }

    /// One write: its latency, or [`Down`].
    ///
    /// # Errors
    ///
    /// [`Down`] during the outage.
    pub async fn write(&self) -> Result<Duration, Down> {
        let inner = &self.inner;
        let start = Instant::now();
        let in_flight = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        // Out of flight when the write ends, or is dropped (a timeout).
        let _leaves = Leaves(&inner.in_flight);
        inner.most_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        let down = inner.outage.is_some_and(|(from, to)| (from..to).contains(&start));
        let load = f64::from(in_flight.max(inner.k)) / f64::from(inner.k);
        let service =
            if down { inner.base } else { inner.base.mul_f64(load * (1.0 + inner.jitter * self.uniform())) };
        tokio::time::sleep(service).await;
        if down {
            inner.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Down);
        }
        inner.writes.fetch_add(1, Ordering::Relaxed);
        Ok(start.elapsed())
    }

    /// A number in [0, 1), from xorshift.
    fn uniform(&self) -> f64 {
        let mut state = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> u32 {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests it had in flight at once.
    pub fn most_in_flight(&self) -> u32 {
        self.inner.most_in_flight.load(Ordering::SeqCst)
    }

    /// Writes that succeeded.
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    /// Requests refused during the outage.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for SimDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDatabase")
            .field("k", &self.inner.k)
            .field("base", &self.inner.base)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Takes a write out of flight when dropped.
struct Leaves<'a>(&'a AtomicU32);

impl Drop for Leaves<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
