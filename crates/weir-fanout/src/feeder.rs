//! The feeder task: pulls items from upstream while the stage has room and
//! hands them to the workers in batches.
//!
//! Upstream inline stages (and the source) run on this task, in parallel
//! with the workers and with downstream. A hand-off moves every item that
//! is ready at once (a hot queue) up to the batch limit, or a single item
//! when the next one is not ready yet (a cold queue): batches add no
//! latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::sync::Semaphore;
use weir_core::chunk::{ChunkStream, ChunksExt};

use crate::dispatch::Dispatch;
use crate::job::Job;

/// Hashes an item's key (keyed mode).
pub(crate) type KeyHash<T> = Box<dyn Fn(&T) -> u64 + Send>;

/// Where the feeder sends items. Dropping it (when the input ends, or
/// the feeder panics) closes the queues: the workers finish what they hold
/// and exit.
pub(crate) enum Router<T> {
    /// One queue shared by every worker (in keyed mode, the queue keeps
    /// per-key order by the key's hash).
    Shared { queue: Arc<Dispatch<T>>, hash: Option<KeyHash<T>> },
    /// One queue per consumer; every consumer gets a copy of every item.
    Broadcast { queues: Vec<Arc<Dispatch<T>>>, copy: fn(&T) -> T },
}

impl<T> Router<T> {
    fn key(&self, item: &T) -> u64 {
        match self {
            Router::Shared { hash: Some(hash), .. } => hash(item),
            _ => 0,
        }
    }

    fn send(&self, batch: Vec<Job<T>>) {
        match self {
            Router::Shared { queue, .. } => queue.push(batch),
            Router::Broadcast { queues, copy } => {
                for queue in &queues[1..] {
                    let copies = batch
                        .iter()
                        .map(|job| {
                            // Copies carry no acks (lane 0's item does) but
                            // the same count, for retry and attempt metrics.
                            let meta = weir_core::Meta::new(weir_core::Acks::none(), job.meta.count());
                            Job::new(job.seq, 0, copy(&job.item), meta)
                        })
                        .collect();
                    queue.push(copies);
                }
                queues[0].push(batch);
            }
        }
    }
}

impl<T> Drop for Router<T> {
    fn drop(&mut self) {
        match self {
            Router::Shared { queue, .. } => queue.close(),
            Router::Broadcast { queues, .. } => queues.iter().for_each(|queue| queue.close()),
        }
    }
}

/// Shared between the feeder and the workers: how many items a hand-off
/// may carry. Workers lower it to 1 when operations wait (slow items are
/// better spread one by one) and raise it when they complete at once. It
/// only tunes the cost of hand-offs: a worker gives back the items it holds
/// the moment an operation waits, whatever the hint.
#[derive(Debug)]
pub(crate) struct BatchHint {
    current: AtomicUsize,
    max: usize,
}

impl BatchHint {
    pub(crate) fn new(max: usize) -> Self {
        Self { current: AtomicUsize::new(max), max }
    }

    pub(crate) fn get(&self) -> usize {
        self.current.load(Relaxed)
    }

    /// An operation had to wait.
    pub(crate) fn slow(&self) {
        if self.current.load(Relaxed) != 1 {
            self.current.store(1, Relaxed);
        }
    }

    /// A whole batch completed without waiting.
    pub(crate) fn fast(&self) {
        let current = self.current.load(Relaxed);
        if current < self.max {
            self.current.store((current * 2).min(self.max), Relaxed);
        }
    }
}

/// Feeds the workers until the input ends; dropping the router then
/// closes their queues.
pub(crate) async fn feed<T>(
    mut input: ChunkStream<T>,
    router: Router<T>,
    room: Arc<Semaphore>,
    hint: Arc<BatchHint>,
) {
    let mut seq = 0u64;
    let mut chunk = Vec::new();
    loop {
        // One slot for the first item: never pull from upstream without room.
        match room.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        let want = hint.get().saturating_sub(1).min(room.available_permits());
        let extra = match room.try_acquire_many(want as u32) {
            Ok(permit) if want > 0 => {
                permit.forget();
                want
            }
            _ => 0,
        };
        // Whatever upstream has ready, up to the slots taken, waiting for
        // the first item only.
        if !input.next_chunk(1 + extra, &mut chunk).await {
            room.add_permits(1 + extra);
            return;
        }
        let batch: Vec<Job<T>> = chunk
            .drain(..)
            .map(|env| {
                let (item, meta) = env.into_parts();
                let key = router.key(&item);
                seq += 1;
                Job::new(seq - 1, key, item, meta)
            })
            .collect();
        room.add_permits(1 + extra - batch.len());
        router.send(batch);
    }
}
