//! Rate limits: global or per key, by count or by a cost per item,
//! shaping (items wait: [`RateLimitExt::throttle`]) or enforcing (excess
//! items fail: [`RateLimitExt::rate_limit`]).
//!
//! The limiter is GCRA (the generic cell rate algorithm: one
//! "theoretical arrival time" per key), written here rather than taken
//! from `governor`, which implements the same algorithm: governor gives
//! every key one quota (per-key quotas are its open issue #193) and runs
//! on its own clock, while weir's limits need a quota per key and
//! tokio's clock (whose timers the waits use, and which tests pause).

mod enforce;
mod gcra;
mod throttle;

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weir_core::{Fallible, Pipeline};

pub use enforce::RateLimited;
pub use gcra::KeyCounts;

use enforce::Enforce;
use gcra::Keys;
use throttle::Throttle;

/// A rate: `count` units per `period`, in bursts of up to `burst` units
/// (by default `count`: a full period's worth may come at once, then
/// the steady rate).
///
/// ```
/// use std::time::Duration;
/// use weir_flow::Rate;
///
/// let rate = Rate::per_second(100).burst(10);
/// assert_eq!(rate.interval(), Duration::from_millis(10));
/// assert!(Rate::new(0, Duration::from_secs(1)).validate().is_err());
/// assert!(Rate::new(10, Duration::from_nanos(5)).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    period: Duration,
    burst: Option<u32>,
}

impl Rate {
    /// `count` units per `period`.
    pub fn new(count: u32, period: Duration) -> Self {
        Self { count, period, burst: None }
    }

    /// `count` units per second.
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` units per minute.
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// The most units that may pass at once after a quiet time.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The most units that may pass at once (the count, unless
    /// [`burst`](Self::burst) said otherwise).
    ///
    /// ```
    /// use weir_flow::Rate;
    ///
    /// assert_eq!(Rate::per_second(50).get_burst(), 50);
    /// assert_eq!(Rate::per_second(50).burst(5).get_burst(), 5);
    /// ```
    pub fn get_burst(&self) -> u32 {
        self.burst_units()
    }

    /// The time one unit takes at the steady rate.
    pub fn interval(&self) -> Duration {
        self.period / self.count.max(1)
    }

    pub(crate) fn burst_units(&self) -> u32 {
        self.burst.unwrap_or(self.count)
    }

    /// Checks the rate.
    ///
    /// # Errors
    ///
    /// [`InvalidRate`], whose message says what to change.
    pub fn validate(&self) -> Result<(), InvalidRate> {
        if self.count == 0 {
            return Err(InvalidRate::ZeroCount);
        }
        if self.period.is_zero() {
            return Err(InvalidRate::ZeroPeriod);
        }
        if self.burst_units() == 0 {
            return Err(InvalidRate::ZeroBurst);
        }
        if self.interval().is_zero() {
            return Err(InvalidRate::TooFast);
        }
        Ok(())
    }
}

/// A [`Rate`] that cannot work; the pipeline refuses it when it is built.
///
/// ```
/// use weir_flow::{InvalidRate, Rate};
///
/// assert_eq!(Rate::per_second(5).burst(0).validate(), Err(InvalidRate::ZeroBurst));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRate {
    /// Nothing would ever pass.
    #[error("the rate's count is zero, so nothing would pass: give at least 1 unit per period")]
    ZeroCount,
    /// A rate over no time.
    #[error("the rate's period is zero: give a positive duration, such as 1 s")]
    ZeroPeriod,
    /// No unit would fit in a burst.
    #[error("the rate's burst is zero, so nothing would pass: give at least 1 (the count, by default)")]
    ZeroBurst,
    /// More than one unit per nanosecond: no limit at all.
    #[error(
        "the rate is more than one unit per nanosecond, so it would limit nothing: lower the count or lengthen the period"
    )]
    TooFast,
}

type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;
type CostFn<T> = Arc<dyn Fn(&T) -> u32 + Send + Sync>;
type QuotaFn<K> = Arc<dyn Fn(&K) -> Rate + Send + Sync>;

/// A rate limit on a pipeline's items: one [`Rate`] for all of them, or
/// one per key ([`per_key`](Limit::per_key)), each key with the same rate
/// or its own ([`quota`](Limit::quota)); an item costs one unit, or what
/// [`cost`](Limit::cost) says. Clones share their state, so one limit can
/// cover several stages, and a clone kept aside reads per-key counts
/// ([`key_counts`](Limit::key_counts), [`busiest`](Limit::busiest))
/// without a metric label per key.
///
/// A key's state is dropped once its bucket is full again (it is then
/// the same as a key never seen), so memory follows the keys active
/// within one burst's time, not every key ever seen.
///
/// ```
/// use weir_flow::{Limit, Rate};
///
/// /// A reading from a device.
/// struct Reading { device: u32, bytes: usize }
///
/// // 100 readings a second per device, and device 7 (a gateway) 1,000.
/// let limit = Limit::new(Rate::per_second(100))
///     .per_key(|r: &Reading| r.device)
///     .quota(|device| if *device == 7 { Rate::per_second(1_000) } else { Rate::per_second(100) });
/// // Or: 1 MB a second in all, each reading costing its size in kB.
/// let bytes = Limit::new(Rate::per_second(1_000)).cost(|r: &Reading| (r.bytes / 1_000) as u32 + 1);
/// # let _ = (limit, bytes);
/// ```
pub struct Limit<T, K = ()> {
    rate: Rate,
    key: KeyFn<T, K>,
    cost: Option<CostFn<T>>,
    quota: Option<QuotaFn<K>>,
    keys: Arc<Keys<K>>,
}

impl<T> Limit<T, ()> {
    /// One rate for every item.
    pub fn new(rate: Rate) -> Self {
        Self { rate, key: Arc::new(|_| ()), cost: None, quota: None, keys: Arc::new(Keys::default()) }
    }

    /// A rate for each key `key` gives an item, each with the limit's
    /// rate unless [`quota`](Limit::quota) says otherwise.
    pub fn per_key<K, F>(self, key: F) -> Limit<T, K>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + 'static,
    {
        Limit {
            rate: self.rate,
            key: Arc::new(key),
            cost: self.cost,
            quota: None,
            keys: Arc::new(Keys::default()),
        }
    }
}

impl<T, K: Hash + Eq + Clone + Send + 'static> Limit<T, K> {
    /// What each item costs, in units of the rate (1 by default). An
    /// item that costs more than a burst is refused by
    /// [`rate_limit`](RateLimitExt::rate_limit) (it could never pass) and,
    /// by [`throttle`](RateLimitExt::throttle), waits for a full bucket
    /// and takes it.
    pub fn cost(mut self, cost: impl Fn(&T) -> u32 + Send + Sync + 'static) -> Self {
        self.cost = Some(Arc::new(cost));
        self
    }

    /// Each key's own rate, instead of the limit's (called when a key is
    /// first seen, and again once its state was dropped). A rate it gives
    /// that cannot work ([`Rate::validate`]) is not let through unlimited:
    /// [`rate_limit`](RateLimitExt::rate_limit) fails the item with
    /// [`RateLimited::InvalidQuota`], and
    /// [`throttle`](RateLimitExt::throttle) ends the run with it (intake
    /// stops; the item and those in flight drain).
    pub fn quota(mut self, quota: impl Fn(&K) -> Rate + Send + Sync + 'static) -> Self {
        self.quota = Some(Arc::new(quota));
        self
    }

    /// The counts of `key`, while its state is kept.
    pub fn key_counts(&self, key: &K) -> Option<KeyCounts> {
        self.keys.counts(key)
    }

    /// The `n` keys kept now that waited or were refused the most, most
    /// first: where to look, without a metric label per key.
    pub fn busiest(&self, n: usize) -> Vec<(K, KeyCounts)> {
        self.keys.busiest(n)
    }

    /// How many keys have state now.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// The rate of `item`'s key, its key and its cost.
    fn assess(&self, item: &T) -> (K, u32) {
        ((self.key)(item), self.cost.as_ref().map_or(1, |cost| cost(item)))
    }

    fn rate_of(&self, key: &K) -> Rate {
        self.quota.as_ref().map_or(self.rate, |quota| quota(key))
    }

    fn validate(&self, stage: &str) -> Result<(), weir_core::BuildError> {
        self.rate.validate().map_err(|e| weir_core::BuildError::invalid(stage, e))
    }

    /// Publishes the readings of a stage using the limit into its
    /// reports: its own counts (a limit shared by stages is counted per
    /// stage), and the limit's keys (shared).
    fn observe(&self, metrics: &weir_core::StageMetrics, shaping: bool) -> Arc<StageCounts> {
        let counts = Arc::new(StageCounts::default());
        let keys = self.keys.clone();
        metrics.gauge("rate_keys", move || keys.len() as u64);
        let keys = self.keys.clone();
        metrics.gauge("rate_evicted", move || keys.totals().evicted);
        if shaping {
            let read = counts.clone();
            metrics.gauge("rate_waited", move || read.waited.load(Ordering::Relaxed));
            let read = counts.clone();
            metrics.gauge("rate_wait_ms", move || read.wait_ms.load(Ordering::Relaxed));
        } else {
            let read = counts.clone();
            metrics.gauge("rate_limited", move || read.limited.load(Ordering::Relaxed));
        }
        counts
    }
}

/// What one stage's items did under its limit.
#[derive(Debug, Default)]
pub(crate) struct StageCounts {
    waited: AtomicU64,
    wait_ms: AtomicU64,
    limited: AtomicU64,
}

impl StageCounts {
    pub(crate) fn waited(&self, waited: Duration) {
        self.waited.fetch_add(1, Ordering::Relaxed);
        self.wait_ms.fetch_add(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn limited(&self) {
        self.limited.fetch_add(1, Ordering::Relaxed);
    }
}

impl<T, K> Clone for Limit<T, K> {
    fn clone(&self) -> Self {
        Self {
            rate: self.rate,
            key: self.key.clone(),
            cost: self.cost.clone(),
            quota: self.quota.clone(),
            keys: self.keys.clone(),
        }
    }
}

impl<T, K> fmt::Debug for Limit<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit").field("rate", &self.rate).finish_non_exhaustive()
    }
}

/// Rate limits on a pipeline.
pub trait RateLimitExt<T>: Sized {
    /// Shapes the items to `limit`: an item whose key has no room waits
    /// until it has, in order (the items behind it wait too, whatever
    /// their key; for keys that must not wait for each other, refuse
    /// with [`rate_limit`](Self::rate_limit), or throttle inside a keyed
    /// fan-out). Nothing is dropped; the wait backpressures the source.
    /// The stage's reports carry `rate_waited` (its items that waited),
    /// `rate_wait_ms`, and the limit's `rate_keys` (keys kept now) and
    /// `rate_evicted` (shared by the stages sharing the limit).
    ///
    /// # Errors
    ///
    /// An invalid rate ([`Rate::validate`]) is a
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the
    /// stage, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::{Limit, Rate, RateLimitExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let start = tokio::time::Instant::now();
    /// let report = Pipeline::from_iter(0..30u32)
    ///     .throttle("10/s", Limit::new(Rate::per_second(10)))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.delivered(), 30);
    /// // A burst of 10 at once, then one every 100 ms.
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # Ok(())
    /// # }
    /// ```
    fn throttle<K>(self, name: &str, limit: Limit<T, K>) -> Pipeline<T>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static;

    /// Enforces `limit`: an item whose key has no room fails with
    /// [`RateLimited`] (transient: it could pass later), keeping the
    /// item, so it is dead-lettered, discarded or halted on like any
    /// failure. The stage's reports carry `rate_limited` (its items
    /// refused), and the limit's `rate_keys` and `rate_evicted`.
    ///
    /// # Errors
    ///
    /// As [`throttle`](Self::throttle).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::{Limit, Rate, RateLimitExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// // Ten readings at once from each of two devices; each may send 4.
    /// let readings = (0..20u32).map(|i| (i % 2, i));
    /// let limit = Limit::new(Rate::per_second(4)).per_key(|r: &(u32, u32)| r.0);
    /// let report = Pipeline::from_iter(readings)
    ///     .rate_limit("per device", limit.clone())
    ///     .discard_failures()
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!((report.delivered(), report.discarded()), (8, 12));
    /// assert_eq!(limit.key_counts(&0).unwrap().limited, 6);
    /// # Ok(())
    /// # }
    /// ```
    fn rate_limit<K>(self, name: &str, limit: Limit<T, K>) -> Fallible<T, T, RateLimited>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static;
}

impl<T: Send + 'static> RateLimitExt<T> for Pipeline<T> {
    fn throttle<K>(self, name: &str, limit: Limit<T, K>) -> Pipeline<T>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.stage(Throttle { name: name.to_owned(), limit })
    }

    fn rate_limit<K>(self, name: &str, limit: Limit<T, K>) -> Fallible<T, T, RateLimited>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.try_stage(Enforce { name: name.to_owned(), limit })
    }
}
