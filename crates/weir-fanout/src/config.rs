//! Fan-out configuration.

use weir_core::BuildError;

/// The largest batch moved between tasks in one hand-off.
pub(crate) const MAX_BATCH: usize = 256;

/// How a fan-out stage is sized: its number of workers and its capacity,
/// and whether output keeps input order.
///
/// The capacity is the queue's size, as in a bounded queue shared by N
/// consumers: the stage holds at most `capacity + workers` items (queued,
/// in workers' hands, parked for a retry, or finished and waiting for
/// downstream). When it is full the stage stops pulling from upstream,
/// which slows the source down (backpressure). The default is 16 items
/// per worker.
///
/// # Examples
///
/// ```
/// use weir_fanout::FanOut;
///
/// let config = FanOut::workers(8).capacity(1024).ordered();
/// assert_eq!(config.worker_count(), 8);
/// assert_eq!(config.capacity_items(), 1024);
/// assert!(config.is_ordered());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    workers: usize,
    capacity: Option<usize>,
    ordered: bool,
}

impl FanOut {
    /// The most workers a fan-out stage (or consumers a broadcast) may
    /// have: 65 536.
    ///
    /// Each worker is a task with its own queue slot, all started when the
    /// run starts, so a stage's cost grows with its worker count before a
    /// single item moves. Fan-out bounds concurrency: more than a few per
    /// core for CPU-bound work, or a few thousand for I/O-bound work (more
    /// connections than a server or a port range takes), does not go
    /// faster. A larger count is a mistake (a unit error, an unchecked
    /// flag) and is rejected when the pipeline is built, instead of
    /// spending seconds starting tasks or aborting on allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Pipeline::from_iter(0..3u32)
    ///     .fan_out("op", FanOut::workers(FanOut::MAX_WORKERS + 1), |x: u32| async move { Ok::<_, std::convert::Infallible>(x) })
    ///     .discard_failures()
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, RunError::Build(BuildError::Invalid { .. })));
    /// # }
    /// ```
    pub const MAX_WORKERS: usize = 1 << 16;

    /// `n` workers sharing one bounded queue. Zero, and more than
    /// [`MAX_WORKERS`](Self::MAX_WORKERS), are rejected when the pipeline
    /// is built.
    pub fn workers(n: usize) -> Self {
        Self { workers: n, capacity: None, ordered: false }
    }

    /// The stage's capacity in items. Zero is rejected when the pipeline is built.
    pub fn capacity(mut self, items: usize) -> Self {
        self.capacity = Some(items);
        self
    }

    /// Emits results in input order. A slow item holds back the items
    /// after it (up to the capacity), so throughput can drop when item
    /// times vary widely.
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// The number of workers.
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// The capacity in items.
    pub fn capacity_items(&self) -> usize {
        self.capacity.unwrap_or(self.workers.saturating_mul(16))
    }

    /// Whether results keep input order.
    pub fn is_ordered(&self) -> bool {
        self.ordered
    }

    pub(crate) fn validate(&self, stage: &str) -> Result<(), BuildError> {
        if self.workers == 0 {
            return Err(BuildError::Zero { stage: stage.to_owned(), what: "the worker count" });
        }
        check_workers(stage, "workers", self.workers)?;
        if self.capacity_items() == 0 {
            return Err(BuildError::Zero { stage: stage.to_owned(), what: "the capacity" });
        }
        check_room(stage, self.room())
    }

    /// Items the stage may hold: the queue's capacity plus one in each
    /// worker's hands, as with a bounded queue and N consumers.
    pub(crate) fn room(&self) -> usize {
        self.capacity_items().saturating_add(self.workers)
    }

    /// The most items one hand-off moves: enough to amortize the queue,
    /// small enough that every worker gets a share.
    pub(crate) fn max_batch(&self) -> usize {
        (self.capacity_items() / self.workers.max(1)).clamp(1, MAX_BATCH)
    }
}

/// Rejects more than [`FanOut::MAX_WORKERS`] workers (or consumers).
pub(crate) fn check_workers(stage: &str, what: &str, count: usize) -> Result<(), BuildError> {
    let limit = FanOut::MAX_WORKERS;
    if count > limit {
        return Err(BuildError::Invalid {
            stage: stage.to_owned(),
            message: format!(
                "{count} {what} is more than the {limit} a stage may have (each one is a task started with \
                 the run, and more do not go faster); use at most {limit}, typically a few per core for \
                 CPU-bound work or up to a few thousand for I/O"
            ),
        });
    }
    Ok(())
}

/// Rejects a stage that would hold more items than tokio's semaphore counts.
pub(crate) fn check_room(stage: &str, room: usize) -> Result<(), BuildError> {
    if room > tokio::sync::Semaphore::MAX_PERMITS {
        return Err(BuildError::Invalid {
            stage: stage.to_owned(),
            message: format!(
                "a capacity of {room} items is more than the {} a stage can hold; use a smaller capacity",
                tokio::sync::Semaphore::MAX_PERMITS
            ),
        });
    }
    Ok(())
}
