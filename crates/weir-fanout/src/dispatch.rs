//! The queue between the feeder and the workers: work sharing.
//!
//! Every worker of a stage takes its items from one shared queue (a
//! broadcast consumer has a queue of its own). The rule it keeps is the
//! design's ninth guarantee: an item never waits in one worker's hands
//! while another worker is idle.
//!
//! - A worker takes a batch only when the queue is hot: at most its fair
//!   share of the ready items (the queue split among it and the workers
//!   waiting), and at most the [`BatchHint`](crate::feeder::BatchHint),
//!   which drops to one item as soon as an operation has to wait.
//! - The moment an operation has to wait, its worker gives the rest of its
//!   batch back to the front of the queue, before it waits, and wakes the
//!   idle workers: a slow item never holds the items behind it, from the
//!   very first one.
//! - Keyed mode keeps per-key order without pinning a key to a worker: one
//!   item per key is out at a time (ready, in a worker's hands, or parked
//!   for a retry); the items of a busy key wait in that key's line and the
//!   next one becomes ready when the previous one is finished. Any idle
//!   worker takes any ready item, so distinct keys share the workers.
//!
//! Why not `async_channel` of batches, as before: a batch in a channel
//! cannot be split again once a worker holds it, and per-worker queues
//! leave one worker's keys waiting while another is idle.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::pin::pin;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use crate::job::Job;

/// One queue and its workers.
pub(crate) struct Dispatch<T> {
    state: Mutex<State<T>>,
    wake: Notify,
    keyed: bool,
}

/// Ready items in input order, kept as the batches they came in: a hot
/// hand-off moves a whole batch (no copy per item); only a share for an
/// idle worker splits one.
struct Ready<T> {
    batches: VecDeque<Vec<Job<T>>>,
    len: usize,
}

impl<T> Ready<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push_back(&mut self, batch: Vec<Job<T>>) {
        if !batch.is_empty() {
            self.len += batch.len();
            self.batches.push_back(batch);
        }
    }

    fn push_front(&mut self, batch: Vec<Job<T>>) {
        if !batch.is_empty() {
            self.len += batch.len();
            self.batches.push_front(batch);
        }
    }

    /// The first items, at most `n` (at least one when any is ready); at
    /// most one batch, so that taking never copies a batch whole.
    fn take(&mut self, n: usize) -> Option<Vec<Job<T>>> {
        let mut batch = self.batches.pop_front()?;
        if batch.len() > n {
            let rest = batch.split_off(n.max(1));
            self.batches.push_front(rest);
        }
        self.len -= batch.len();
        Some(batch)
    }
}

struct State<T> {
    ready: Ready<T>,
    /// Keyed mode: each key with an item out, and the items of that key
    /// that came after it, in input order.
    busy_keys: FxHashMap<u64, VecDeque<Job<T>>>,
    /// Items given to the queue and not finished: ready, in workers'
    /// hands, parked for a retry, or waiting for their key.
    outstanding: usize,
    /// Workers holding items (outside `take`): each holds at least the
    /// one it is working on.
    active: usize,
    /// Workers waiting for an item.
    idle: usize,
    /// The feeder is done: no item will be pushed any more.
    closed: bool,
}

impl<T> Dispatch<T> {
    /// A queue shared by workers that will call [`take`](Self::take).
    pub(crate) fn new(keyed: bool) -> Self {
        let state = State {
            ready: Ready { batches: VecDeque::new(), len: 0 },
            busy_keys: FxHashMap::default(),
            outstanding: 0,
            active: 0,
            idle: 0,
            closed: false,
        };
        Self { state: Mutex::new(state), wake: Notify::new(), keyed }
    }

    /// Whether the queue keeps per-key order.
    pub(crate) fn is_keyed(&self) -> bool {
        self.keyed
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The lock is never held across user code, so a poisoned lock
        // holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes up to `n` idle workers.
    fn wake(&self, n: usize) {
        for _ in 0..n {
            self.wake.notify_one();
        }
    }

    /// The feeder's hand-off: new items, in input order.
    pub(crate) fn push(&self, batch: Vec<Job<T>>) {
        let mut state = self.lock();
        state.outstanding += batch.len();
        if self.keyed {
            let State { ready, busy_keys, .. } = &mut *state;
            let mut free_keys = Vec::with_capacity(batch.len());
            for job in batch {
                match busy_keys.entry(job.key) {
                    Entry::Occupied(mut line) => line.get_mut().push_back(job),
                    Entry::Vacant(free) => {
                        free.insert(VecDeque::new());
                        free_keys.push(job);
                    }
                }
            }
            ready.push_back(free_keys);
        } else {
            state.ready.push_back(batch);
        }
        let wake = state.idle.min(state.ready.len());
        drop(state);
        self.wake(wake);
    }

    /// Items a worker took and has not started, or a parked item whose
    /// delay is over: they go first, in the order given.
    pub(crate) fn give_back(&self, jobs: impl Iterator<Item = Job<T>>) {
        let mut state = self.lock();
        state.ready.push_front(jobs.collect());
        let wake = state.idle.min(state.ready.len());
        drop(state);
        self.wake(wake);
    }

    /// A worker finished `count` items; in keyed mode, `keys` are their
    /// keys, whose next items become ready.
    pub(crate) fn finish(&self, count: usize, keys: &mut Vec<u64>) {
        if count > 0 {
            let state = self.lock();
            self.finish_locked(state, count, keys);
        }
    }

    fn finish_locked(&self, mut state: MutexGuard<'_, State<T>>, count: usize, keys: &mut Vec<u64>) {
        state.outstanding -= count;
        let mut promoted = Vec::new();
        for key in keys.drain(..) {
            if let Entry::Occupied(mut line) = state.busy_keys.entry(key) {
                match line.get_mut().pop_front() {
                    Some(next) => promoted.push(next),
                    None => {
                        line.remove();
                    }
                }
            }
        }
        // They waited for their keys: they go first.
        let promoted_len = promoted.len();
        state.ready.push_front(promoted);
        let promoted = promoted_len;
        let wake = state.idle.min(promoted);
        let exits = state.idle > 0 && state.nothing_left();
        drop(state);
        if exits {
            self.wake.notify_waiters();
        } else {
            self.wake(wake);
        }
    }

    /// The feeder is done: workers exit once every item is finished.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
    }

    /// Tells the queue that the worker finished `count` items (and their
    /// `keys`, in keyed mode) and, if it was `holding` a batch, that it
    /// holds none any more; then waits for its
    /// next items, at most `max`. `None` once the worker may exit: the
    /// queue is closed and every item left is in another worker's hands
    /// (nothing ready, parked or waiting for its key could come to this
    /// worker), so idle workers exit as soon as the work runs out, as
    /// consumers of a closed queue do. One lock when items are ready.
    pub(crate) async fn take(
        &self,
        max: usize,
        holding: bool,
        count: usize,
        keys: &mut Vec<u64>,
    ) -> Option<Vec<Job<T>>> {
        {
            let mut state = self.lock();
            state.active -= usize::from(holding);
            self.finish_locked(state, count, keys);
        }
        let mut waited = false;
        loop {
            {
                let mut state = self.lock();
                if waited {
                    state.idle -= 1;
                    waited = false;
                }
                if let Some(batch) = state.take(max) {
                    state.active += 1;
                    let exits = state.idle > 0 && state.nothing_left();
                    drop(state);
                    if exits {
                        self.wake.notify_waiters();
                    }
                    return Some(batch);
                }
                if state.nothing_left() {
                    return None;
                }
            }
            // Nothing ready: register for a wake-up, then look again, so
            // that no push between the two is missed.
            let mut notified = pin!(self.wake.notified());
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.ready.is_empty() || state.nothing_left() {
                    continue;
                }
                state.idle += 1;
            }
            waited = true;
            notified.await;
        }
    }
}

impl<T> State<T> {
    /// A fair share of the ready items, at most `max`: the rest stays for
    /// the workers waiting.
    fn take(&mut self, max: usize) -> Option<Vec<Job<T>>> {
        if self.ready.is_empty() {
            return None;
        }
        let share = self.ready.len().div_ceil(self.idle + 1);
        self.ready.take(share.min(max))
    }

    /// No item will come to a worker that holds none: the queue is closed
    /// and every item left is in an active worker's hands, one each.
    fn nothing_left(&self) -> bool {
        self.closed && self.outstanding == self.active
    }
}

impl<T> std::fmt::Debug for Dispatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Dispatch")
            .field("ready", &state.ready.len())
            .field("outstanding", &state.outstanding)
            .field("active", &state.active)
            .field("idle", &state.idle)
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}
