//! Putting results back together: as they finish, in input order, or
//! gathered from every broadcast consumer.

use std::collections::VecDeque;

use weir_core::Meta;

use crate::job::{Done, Failed};

/// One finished item: its metadata and its value or failure.
pub(crate) type Finished<V, T, E> = (Meta, Result<V, Box<Failed<T, E>>>);

/// Turns the workers' results into the stage's output order.
pub(crate) trait Assemble<T, E>: Send + 'static {
    /// What a worker produces for one item.
    type Value;
    /// What the stage emits for one item.
    type Output;

    /// Files a batch of results.
    fn receive(&mut self, batch: Vec<Done<Self::Value, T, E>>);

    /// The next result that can be emitted.
    fn next_ready(&mut self) -> Option<Finished<Self::Output, T, E>>;
}

/// Results as they finish (the fastest).
pub(crate) struct Unordered<V, T, E>(std::vec::IntoIter<Done<V, T, E>>);

impl<V, T, E> Default for Unordered<V, T, E> {
    fn default() -> Self {
        Self(Vec::new().into_iter())
    }
}

impl<V: Send + 'static, T: Send + 'static, E: Send + 'static> Assemble<T, E> for Unordered<V, T, E> {
    type Value = V;
    type Output = V;

    fn receive(&mut self, batch: Vec<Done<V, T, E>>) {
        debug_assert!(self.0.len() == 0, "a batch is received only once the previous one is emitted");
        self.0 = batch.into_iter();
    }

    fn next_ready(&mut self) -> Option<Finished<V, T, E>> {
        self.0.next().map(|done| (done.meta, done.result))
    }
}

/// Results in input order: `window[i]` holds the result of item `base + i`.
/// The stage's capacity bounds the window.
pub(crate) struct Ordered<V, T, E> {
    window: VecDeque<Option<Done<V, T, E>>>,
    base: u64,
}

impl<V, T, E> Default for Ordered<V, T, E> {
    fn default() -> Self {
        Self { window: VecDeque::new(), base: 0 }
    }
}

impl<V: Send + 'static, T: Send + 'static, E: Send + 'static> Assemble<T, E> for Ordered<V, T, E> {
    type Value = V;
    type Output = V;

    fn receive(&mut self, batch: Vec<Done<V, T, E>>) {
        for done in batch {
            let i = (done.seq - self.base) as usize;
            if self.window.len() <= i {
                self.window.resize_with(i + 1, || None);
            }
            self.window[i] = Some(done);
        }
    }

    fn next_ready(&mut self) -> Option<Finished<V, T, E>> {
        self.window.front()?.as_ref()?;
        let done = self.window.pop_front().flatten()?;
        self.base += 1;
        Some((done.meta, done.result))
    }
}

/// Every consumer's result of an item, gathered, in input order. An item
/// fails if any consumer failed it (the first failure is kept).
pub(crate) struct Broadcast<V, T, E> {
    window: VecDeque<Gather<V, T, E>>,
    base: u64,
    lanes: usize,
}

struct Gather<V, T, E> {
    values: Vec<Option<V>>,
    got: usize,
    meta: Option<Meta>,
    failed: Option<Box<Failed<T, E>>>,
}

impl<V, T, E> Broadcast<V, T, E> {
    pub(crate) fn new(lanes: usize) -> Self {
        Self { window: VecDeque::new(), base: 0, lanes }
    }
}

impl<V: Send + 'static, T: Send + 'static, E: Send + 'static> Assemble<T, E> for Broadcast<V, T, E> {
    type Value = V;
    type Output = Vec<V>;

    fn receive(&mut self, batch: Vec<Done<V, T, E>>) {
        for done in batch {
            let i = (done.seq - self.base) as usize;
            while self.window.len() <= i {
                let values = (0..self.lanes).map(|_| None).collect();
                self.window.push_back(Gather { values, got: 0, meta: None, failed: None });
            }
            let gather = &mut self.window[i];
            gather.got += 1;
            if done.lane == 0 {
                gather.meta = Some(done.meta);
            }
            match done.result {
                Ok(value) => gather.values[done.lane] = Some(value),
                Err(failed) => {
                    gather.failed.get_or_insert(failed);
                }
            }
        }
    }

    fn next_ready(&mut self) -> Option<Finished<Vec<V>, T, E>> {
        if self.window.front()?.got < self.lanes {
            return None;
        }
        let gather = self.window.pop_front()?;
        self.base += 1;
        let result = match gather.failed {
            Some(failed) => Err(failed),
            None => Ok(gather.values.into_iter().flatten().collect()),
        };
        Some((gather.meta.unwrap_or_default(), result))
    }
}
