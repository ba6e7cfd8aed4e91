//! Dedup with a time limit: drops repeats of a key seen within a TTL,
//! remembering keys within a byte budget.

mod seen;

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use weir_core::{BuildError, EnvelopeStream, Pipeline, Stage, StageContext};

use seen::{Seen, Verdict};

pub use seen::least_budget;

type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;
type HeapFn<K> = Arc<dyn Fn(&K) -> usize + Send + Sync>;

/// What [`DedupExt::dedup`] remembers and for how long: the key of each
/// item, for [`ttl`](Dedup::ttl) after the item passed, within a budget
/// of [`budget_bytes`](Dedup::budget_bytes) bytes of memory.
///
/// An item whose key passed less than the TTL ago is a repeat: it is
/// dropped, counted as filtered in the stage's report (and as
/// `dedup_duplicates`), and acknowledged (a repeat's outcome is final).
/// A repeat does not extend its key's time: a key that comes every
/// second passes once per TTL, so a steady source stays visible.
///
/// The budget bounds the memory the remembered keys take, counted as the
/// allocator sees it: the key set's table and the queue of keys in
/// arrival order at their capacity (each key is kept twice), plus what
/// the keys own on the heap, which [`key_heap_bytes`](Dedup::key_heap_bytes)
/// says (a `String` key's length; nothing by default). When the budget
/// is full the oldest keys are forgotten before their TTL
/// (`dedup_evicted` counts them): a repeat of a forgotten key passes.
/// Size the budget for the keys of one TTL to avoid that.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_shape::{Dedup, DedupExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// // Packets (device, sequence) retransmitted by their senders.
/// let packets = [(1, 10), (2, 7), (1, 10), (1, 11), (2, 7)];
/// let (sink, out) = sink::collect();
/// let report = Pipeline::from_iter(packets)
///     .dedup("dedup", Dedup::by_key(|p: &(u32, u64)| *p).ttl(Duration::from_secs(60)))
///     .sink(sink)
///     .run()
///     .await?;
/// assert_eq!(out.take(), [(1, 10), (2, 7), (1, 11)]);
/// assert_eq!(report.stage("dedup").unwrap().filtered, 2);
/// # Ok(())
/// # }
/// ```
pub struct Dedup<T, K> {
    key: KeyFn<T, K>,
    ttl: Duration,
    budget: usize,
    heap: Option<HeapFn<K>>,
}

impl<T, K> Dedup<T, K> {
    /// Dedup by the key `key` gives each item; by default keys are
    /// remembered for one minute within 64 MiB.
    pub fn by_key(key: impl Fn(&T) -> K + Send + Sync + 'static) -> Self {
        Self { key: Arc::new(key), ttl: Duration::from_secs(60), budget: 64 << 20, heap: None }
    }

    /// How long after an item passed a repeat of its key is dropped (a
    /// TTL past the clock's range, such as `Duration::MAX`, means for
    /// as long as the budget keeps the key).
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_shape::{Dedup, DedupExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// // The same reading every 400 ms; repeats within a second are dropped.
    /// let readings = futures::stream::iter(0..6u64).then(|_| async move {
    ///     tokio::time::sleep(Duration::from_millis(400)).await;
    ///     "temperature"
    /// });
    /// let report = Pipeline::new(readings)
    ///     .dedup("dedup", Dedup::by_key(|r: &&str| *r).ttl(Duration::from_secs(1)))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// // At 0.4 s and 1.6 s (2.4 s is 0.8 s after it): two of six.
    /// assert_eq!(report.delivered(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most memory the remembered keys may take, in bytes.
    ///
    /// ```
    /// use weir_shape::Dedup;
    ///
    /// let dedup = Dedup::by_key(|id: &u64| *id).budget_bytes(1 << 20);
    /// assert!(dedup.validate().is_ok());
    /// assert!(Dedup::by_key(|id: &u64| *id).budget_bytes(10).validate().is_err());
    /// ```
    pub fn budget_bytes(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    /// What a key owns on the heap, in bytes (a `String`'s length, a
    /// `Vec`'s bytes), so that the budget counts it; keys own nothing by
    /// default (integers, tuples of them, arrays).
    ///
    /// ```
    /// use weir_shape::Dedup;
    ///
    /// struct Message { id: String }
    ///
    /// let dedup = Dedup::by_key(|m: &Message| m.id.clone()).key_heap_bytes(|id: &String| id.capacity());
    /// # let _ = dedup;
    /// ```
    pub fn key_heap_bytes(mut self, bytes: impl Fn(&K) -> usize + Send + Sync + 'static) -> Self {
        self.heap = Some(Arc::new(bytes));
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`InvalidDedup`], whose message says what to change.
    pub fn validate(&self) -> Result<(), InvalidDedup> {
        if self.ttl.is_zero() {
            return Err(InvalidDedup::ZeroTtl);
        }
        let least = least_budget::<K>();
        if self.budget < least {
            return Err(InvalidDedup::BudgetTooSmall { budget: self.budget, least });
        }
        Ok(())
    }
}

impl<T, K> fmt::Debug for Dedup<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup").field("ttl", &self.ttl).field("budget", &self.budget).finish_non_exhaustive()
    }
}

/// A [`Dedup`] that cannot work; the pipeline refuses it when it is built.
///
/// ```
/// use std::time::Duration;
/// use weir_shape::{Dedup, InvalidDedup};
///
/// let err = Dedup::by_key(|x: &u32| *x).ttl(Duration::ZERO).validate().unwrap_err();
/// assert_eq!(err, InvalidDedup::ZeroTtl);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDedup {
    /// No repeat would ever be dropped.
    #[error("the dedup's TTL is zero, so no repeat would be dropped: give a positive duration")]
    ZeroTtl,
    /// Not even a few keys would fit.
    #[error("the dedup's budget of {budget} bytes is below the {least} its smallest table takes: raise it")]
    BudgetTooSmall {
        /// The budget given.
        budget: usize,
        /// The least budget for these keys.
        least: usize,
    },
}

/// Dedup on a pipeline.
pub trait DedupExt<T>: Sized {
    /// Drops the repeats [`Dedup`] describes. The stage's reports count
    /// the repeats as filtered and carry the gauges `dedup_duplicates`,
    /// `dedup_keys` (remembered now), `dedup_bytes` (their memory, as
    /// budgeted) and `dedup_evicted` (keys forgotten before their TTL to
    /// keep within the budget, and keys too large for it, never kept).
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Dedup::validate`]) are a
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the
    /// stage, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_shape::{Dedup, DedupExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let err = Pipeline::from_iter(0..3u32)
    ///     .dedup("dedup", Dedup::by_key(|x: &u32| *x).ttl(Duration::ZERO))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("TTL is zero"), "{err}");
    /// # }
    /// ```
    fn dedup<K>(self, name: &str, dedup: Dedup<T, K>) -> Pipeline<T>
    where
        K: Hash + Eq + Clone + Send + 'static;
}

impl<T: Send + 'static> DedupExt<T> for Pipeline<T> {
    fn dedup<K>(self, name: &str, dedup: Dedup<T, K>) -> Pipeline<T>
    where
        K: Hash + Eq + Clone + Send + 'static,
    {
        self.stage(DedupStage { name: name.to_owned(), dedup })
    }
}

struct DedupStage<T, K> {
    name: String,
    dedup: Dedup<T, K>,
}

/// The stage's readings, published as gauges.
#[derive(Default)]
struct Readings {
    duplicates: AtomicU64,
    keys: AtomicU64,
    bytes: AtomicU64,
    evicted: AtomicU64,
}

impl<T, K> Stage<T> for DedupStage<T, K>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
{
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.dedup.validate().map_err(|e| BuildError::invalid(&self.name, e))
    }

    fn build(self, input: EnvelopeStream<T>, ctx: StageContext) -> EnvelopeStream<T> {
        let readings = Arc::new(Readings::default());
        ctx.metrics().gauges(
            &readings,
            &[
                ("dedup_duplicates", |r| r.duplicates.load(Ordering::Relaxed)),
                ("dedup_keys", |r| r.keys.load(Ordering::Relaxed)),
                ("dedup_bytes", |r| r.bytes.load(Ordering::Relaxed)),
                ("dedup_evicted", |r| r.evicted.load(Ordering::Relaxed)),
            ],
        );
        let Dedup { key, ttl, budget, heap } = self.dedup;
        let mut seen = Seen::new(ttl, budget);
        input
            .filter_map(move |envelope| {
                let k = key(envelope.item());
                let owned = heap.as_ref().map_or(0, |heap| heap(&k));
                let verdict = seen.admit(k, owned, tokio::time::Instant::now());
                readings.keys.store(seen.len() as u64, Ordering::Relaxed);
                readings.bytes.store(seen.bytes() as u64, Ordering::Relaxed);
                readings.evicted.store(seen.evicted(), Ordering::Relaxed);
                let out = match verdict {
                    Verdict::Fresh => Some(envelope),
                    Verdict::Repeat => {
                        readings.duplicates.fetch_add(1, Ordering::Relaxed);
                        ctx.filter(envelope);
                        None
                    }
                };
                std::future::ready(out)
            })
            .boxed()
    }
}
