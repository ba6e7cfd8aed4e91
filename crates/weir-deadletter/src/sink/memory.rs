//! An in-memory dead-letter sink, for tests.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DeadLetterSink, StoreError};
use crate::record::DeadLetter;

/// Creates an in-memory dead-letter sink and the handle to read its records.
///
/// The sink never fails. Clones of the sink store into the same list.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_deadletter::{DeadLetterExt, memory};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("{0} is odd")]
/// struct Odd(u32);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (dead, records) = memory();
/// Pipeline::from_iter(0..4u32)
///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
///     .dead_letter(dead)
///     .sink(sink::drain())
///     .run()
///     .await?;
/// let errors: Vec<_> = records.take().into_iter().map(|r| r.error().to_owned()).collect();
/// assert_eq!(errors, ["1 is odd", "3 is odd"]);
/// # Ok(())
/// # }
/// ```
pub fn memory<I>() -> (Memory<I>, MemoryRecords<I>) {
    let shared = Arc::new(Mutex::new(State { records: Vec::new(), syncs: 0 }));
    (Memory { shared: shared.clone() }, MemoryRecords { shared })
}

struct State<I> {
    records: Vec<DeadLetter<I>>,
    syncs: usize,
}

/// An in-memory dead-letter sink; see [`memory`].
pub struct Memory<I> {
    shared: Arc<Mutex<State<I>>>,
}

/// The records a [`Memory`] sink stored; see [`memory`].
pub struct MemoryRecords<I> {
    shared: Arc<Mutex<State<I>>>,
}

fn lock<I>(shared: &Mutex<State<I>>) -> MutexGuard<'_, State<I>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<I> MemoryRecords<I> {
    /// Takes the records stored so far, in the order they were stored.
    pub fn take(&self) -> Vec<DeadLetter<I>> {
        std::mem::take(&mut lock(&self.shared).records)
    }

    /// A copy of the records stored so far.
    pub fn snapshot(&self) -> Vec<DeadLetter<I>>
    where
        I: Clone,
    {
        lock(&self.shared).records.clone()
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        lock(&self.shared).records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times the sink was synced (once per dead-letter stage that finished).
    pub fn syncs(&self) -> usize {
        lock(&self.shared).syncs
    }
}

impl<I> Clone for Memory<I> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<I> Clone for MemoryRecords<I> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<I> fmt::Debug for Memory<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memory").finish_non_exhaustive()
    }
}

impl<I> fmt::Debug for MemoryRecords<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRecords").field("len", &self.len()).finish()
    }
}

impl<I: Send + 'static> DeadLetterSink<I> for Memory<I> {
    type Error = Infallible;

    async fn store(&mut self, records: Vec<DeadLetter<I>>) -> Result<(), StoreError<I, Infallible>> {
        lock(&self.shared).records.extend(records);
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), Infallible> {
        lock(&self.shared).syncs += 1;
        Ok(())
    }
}
