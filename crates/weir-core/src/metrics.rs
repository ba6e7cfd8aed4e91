//! Live per-stage counters, shared between a running pipeline and its handle.

use std::sync::atomic::Ordering::{Acquire, Release};

use crossbeam_utils::CachePadded;

use crate::class::ErrorClass;
use crate::sync::{Arc, AtomicU64, Mutex};

/// How many buckets a stage's attempts histogram has
/// ([`StageReport::attempts`](crate::StageReport::attempts)): items that took
/// 2, 3, … attempts, the last bucket holding the rest.
///
/// Attempts are core's notion, not a retry layer's: whichever layer asks
/// for another attempt ([`Verdict::Retry`](crate::Verdict::Retry), a sink
/// that retries by itself and reports its
/// [`last_attempt`](crate::Sink::last_attempt)), the runner counts the
/// attempts each item took, here.
///
/// ```
/// use weir_core::{ATTEMPT_BUCKETS, StageMetrics};
///
/// let metrics = StageMetrics::default();
/// metrics.record_attempts(3, 1); // bucket 1
/// metrics.record_attempts(50, 1); // the last bucket
/// assert_eq!(ATTEMPT_BUCKETS, 8);
/// ```
pub const ATTEMPT_BUCKETS: usize = 8;

/// What a stage is, for reports.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_core::StageKind;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..3).map("double", |x| x * 2).sink(sink::drain()).run().await?;
/// let kinds: Vec<StageKind> = report.stages().iter().map(|s| s.kind).collect();
/// assert_eq!(kinds, [StageKind::Source, StageKind::Transform, StageKind::Sink]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageKind {
    /// Where items enter.
    Source,
    /// A transformation, filter or custom stage.
    Transform,
    /// Where items end.
    Sink,
}

/// Live counters of one stage. Every count is in source items (a batch of
/// 10 counts 10).
///
/// The per-item counters sit on cache lines of their own: the task that
/// feeds a stage and the task that drains it count on different cores, and
/// sharing a line would make every count a cache miss.
///
/// A custom stage reaches its counters through
/// [`StageContext::metrics`](crate::StageContext::metrics); see the
/// [`Stage`](crate::Stage) example, which counts what it drops with
/// [`StageContext::filter`](crate::StageContext::filter).
///
/// ```
/// use weir_core::StageMetrics;
///
/// let metrics = StageMetrics::default();
/// metrics.record_filtered(2);
/// metrics.record_retry(1, true);
/// metrics.record_attempts(3, 1);
/// ```
#[derive(Debug, Default)]
pub struct StageMetrics {
    pub(crate) emitted: Counter,
    pub(crate) delivered: CachePadded<AtomicU64>,
    pub(crate) filtered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) retries: AtomicU64,
    /// Items that needed more than one attempt, by attempts made
    /// (index 0: 2 attempts, …, last: `ATTEMPT_BUCKETS + 1` or more).
    pub(crate) attempts: [AtomicU64; ATTEMPT_BUCKETS],
    pub(crate) panicked: AtomicU64,
    pub(crate) dead_lettered: [AtomicU64; 3],
    /// Retries of storing this stage's failures (a dead-letter sink that
    /// failed and was tried again).
    pub(crate) store_retries: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) returned: AtomicU64,
    /// Readings of the stage's layers, by name.
    pub(crate) gauges: crate::gauge::Gauges,
    /// Busy, idle and backpressured time and latencies, while watched.
    pub(crate) timing: crate::timing::Timing,
}

fn class_index(class: ErrorClass) -> usize {
    match class {
        ErrorClass::Transient => 0,
        ErrorClass::Permanent => 1,
        ErrorClass::Poison => 2,
    }
}

/// A gauge of [`StageMetrics::gauges`]: its name, and how it reads the
/// shared value.
pub type GaugeOf<'a, R> = (&'a str, fn(&R) -> u64);

impl StageMetrics {
    /// A clock for one of the stage's workers to time its jobs with: while
    /// the stage is watched ([`Monitor::watch`](crate::Monitor::watch)),
    /// each job's time counts as busy. A stage of several workers (see
    /// [`busy_from_workers`](Self::busy_from_workers)) gives each its own.
    ///
    /// ```
    /// use weir_core::StageMetrics;
    ///
    /// let metrics = StageMetrics::default();
    /// let mut clock = metrics.work_clock();
    /// let job = clock.job(); // nobody watches: None, nothing timed
    /// assert!(job.is_none());
    /// ```
    #[inline]
    pub fn work_clock(&self) -> crate::timing::WorkClock<'_> {
        crate::timing::WorkClock::new(&self.timing)
    }

    /// Says that the stage's workers time their own work with
    /// [`work_clock`](Self::work_clock): its polls then count no busy
    /// time, and its [`StageTiming::busy`](crate::StageTiming::busy) is
    /// the sum of its workers'. For a stage of concurrent workers.
    ///
    /// ```
    /// use weir_core::StageMetrics;
    ///
    /// StageMetrics::default().busy_from_workers();
    /// ```
    pub fn busy_from_workers(&self) {
        self.timing.busy_from_workers();
    }

    /// Says that the stage, when it has nothing to hand on, is waiting
    /// for items to arrive (a queue that another task fills, a source):
    /// that time counts as idle, not busy.
    ///
    /// ```
    /// use weir_core::StageMetrics;
    ///
    /// StageMetrics::default().waits_for_arrivals();
    /// ```
    pub fn waits_for_arrivals(&self) {
        self.timing.waits_for_arrivals();
    }

    /// Publishes a reading into the stage's reports, as `name`: each
    /// report (live or final) calls `read` and shows its value in
    /// [`StageReport::gauges`](crate::StageReport::gauges). For layers
    /// whose state a user watches: a circuit breaker's state, a rate
    /// limiter's waits, a concurrency limit. A second gauge of the same
    /// name replaces the first. They reach the stage's metrics through
    /// [`Operation::observe`](crate::Operation::observe) and
    /// [`Sink::observe`](crate::Sink::observe).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use weir_core::StageMetrics;
    ///
    /// let metrics = StageMetrics::default();
    /// let limit = Arc::new(AtomicU64::new(4));
    /// let reading = limit.clone();
    /// metrics.gauge("limit", move || reading.load(Ordering::Relaxed));
    /// ```
    pub fn gauge(&self, name: impl Into<String>, read: impl Fn() -> u64 + Send + Sync + 'static) {
        self.gauges.add(name.into(), Box::new(read));
    }

    /// Publishes several readings of one shared value (a struct of
    /// counters behind an `Arc`) as gauges, each `(name, read)`: what a
    /// stage with a few counters of its own registers when it is built.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use weir_core::StageMetrics;
    ///
    /// #[derive(Default)]
    /// struct Readings { kept: AtomicU64, dropped: AtomicU64 }
    ///
    /// let metrics = StageMetrics::default();
    /// let readings = Arc::new(Readings::default());
    /// metrics.gauges(&readings, &[
    ///     ("kept", |r| r.kept.load(Ordering::Relaxed)),
    ///     ("dropped", |r| r.dropped.load(Ordering::Relaxed)),
    /// ]);
    /// ```
    pub fn gauges<R>(&self, readings: &R, gauges: &[GaugeOf<'_, R>])
    where
        R: Clone + Send + Sync + 'static,
    {
        for &(name, read) in gauges {
            let readings = readings.clone();
            self.gauge(name, move || read(&readings));
        }
    }

    /// Counts `n` items dropped on purpose (a filter, a dedup).
    pub fn record_filtered(&self, n: u64) {
        self.filtered.fetch_add(n, Release);
    }

    /// Counts one more attempt (a retry) for an item of `n` source items;
    /// `first_retry` is true on its first retry, to count retried items.
    pub fn record_retry(&self, n: u64, first_retry: bool) {
        self.retries.fetch_add(n, Release);
        if first_retry {
            self.retried.fetch_add(n, Release);
        }
    }

    /// Counts `n` items that reached their outcome (success or failure)
    /// after `attempts` attempts, for the attempts distribution. Items
    /// that needed one attempt are not counted here.
    pub fn record_attempts(&self, attempts: u32, n: u64) {
        if attempts > 1 {
            let bucket = (attempts as usize - 2).min(ATTEMPT_BUCKETS - 1);
            self.attempts[bucket].fetch_add(n, Release);
        }
    }

    /// Counts `n` items that took `attempts` attempts in one go (a sink
    /// that retries by itself): their retries, and the attempts
    /// distribution.
    pub(crate) fn record_attempts_made(&self, attempts: u32, n: u64) {
        if attempts > 1 {
            self.retries.fetch_add(n.saturating_mul(u64::from(attempts - 1)), Release);
            self.retried.fetch_add(n, Release);
            self.record_attempts(attempts, n);
        }
    }

    /// Counts a flush that took `attempts` attempts for the `n` items it
    /// covered: a retry for each item per extra attempt, and each item as
    /// retried unless its send was (`already`, counted then). The attempts
    /// distribution stays per send.
    pub(crate) fn record_flush_attempts(&self, attempts: u32, n: u64, already: u64) {
        if attempts > 1 {
            self.retries.fetch_add(n.saturating_mul(u64::from(attempts - 1)), Release);
            self.retried.fetch_add(n.saturating_sub(already), Release);
        }
    }

    /// Counts `n` items whose operation panicked (they are failures too).
    pub fn record_panic(&self, n: u64) {
        self.panicked.fetch_add(n, Release);
    }

    pub(crate) fn record_store_retry(&self, n: u64) {
        self.store_retries.fetch_add(n, Release);
    }

    pub(crate) fn record_failed(&self, n: u64) {
        self.failed.fetch_add(n, Release);
    }

    pub(crate) fn record_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Release);
    }

    pub(crate) fn record_returned(&self, n: u64) {
        self.returned.fetch_add(n, Release);
    }

    /// Counts `n` failed items of `class` stored by a dead-letter sink.
    pub(crate) fn record_dead_lettered(&self, class: ErrorClass, n: u64) {
        self.dead_lettered[class_index(class)].fetch_add(n, Release);
    }

    /// Counts `n` failed items explicitly discarded.
    pub(crate) fn record_discarded(&self, n: u64) {
        self.discarded.fetch_add(n, Release);
    }

    pub(crate) fn dead_lettered_by_class(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.dead_lettered[i].load(Acquire))
    }
}

/// A counter written on the hot path of several tasks.
///
/// An atomic add per item costs more than a hot stage's own work, so each
/// writer that counts every item (a stage's input or output adapter, a
/// sink driver) takes a [`Shard`] of its own: it keeps its running total
/// and publishes it with a plain store, on a cache line of its own. A
/// snapshot adds the shards up, so counts are exact at any moment.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    shards: Mutex<Vec<Arc<CachePadded<AtomicU64>>>>,
}

impl Counter {
    pub(crate) fn shard(&self) -> Shard {
        let cell = Arc::new(CachePadded::new(AtomicU64::new(0)));
        self.shards.lock().unwrap_or_else(|e| e.into_inner()).push(cell.clone());
        Shard { cell, total: 0 }
    }

    pub(crate) fn load(&self) -> u64 {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.iter().map(|c| c.load(Acquire)).sum()
    }
}

/// One writer's part of a [`Counter`].
#[derive(Debug)]
pub(crate) struct Shard {
    cell: Arc<CachePadded<AtomicU64>>,
    total: u64,
}

impl Shard {
    #[inline]
    pub(crate) fn add(&mut self, n: u64) {
        self.total += n;
        self.cell.store(self.total, Release);
    }
}

/// A stage's identity (name and kind) and its live counters.
#[derive(Debug, Clone)]
pub struct StageRef(Arc<StageInfo>);

#[derive(Debug)]
struct StageInfo {
    name: String,
    kind: StageKind,
    metrics: StageMetrics,
}

impl StageRef {
    pub(crate) fn new(name: impl Into<String>, kind: StageKind) -> Self {
        Self(Arc::new(StageInfo { name: name.into(), kind, metrics: StageMetrics::default() }))
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The stage's kind.
    pub fn kind(&self) -> StageKind {
        self.0.kind
    }

    /// The stage's live counters.
    pub fn metrics(&self) -> &StageMetrics {
        &self.0.metrics
    }
}
