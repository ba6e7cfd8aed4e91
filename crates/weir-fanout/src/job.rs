//! What moves between the feeder, the workers and the output.

use tokio::time::Instant;
use weir_core::{Attempt, Cause, ErrorClass, Meta};

/// One item on its way to a worker.
#[derive(Debug)]
pub struct Job<T> {
    /// Position in the input, for ordered output and broadcast gathering.
    pub(crate) seq: u64,
    /// Hash of the item's key (keyed mode), to hold back a key while one
    /// of its items waits for a retry.
    pub(crate) key: u64,
    pub(crate) item: T,
    pub(crate) meta: Meta,
    /// Set after the first failed attempt (boxed: jobs move in bulk, and
    /// most never fail).
    pub(crate) attempt: Option<Box<Attempt>>,
}

impl<T> Job<T> {
    pub(crate) fn new(seq: u64, key: u64, item: T, meta: Meta) -> Self {
        Self { seq, key, item, meta, attempt: None }
    }

    /// The item, and the job without it (while the item is out on an
    /// attempt).
    pub(crate) fn split(self) -> (Job<()>, T) {
        let Self { seq, key, item, meta, attempt } = self;
        (Job { seq, key, item: (), meta, attempt }, item)
    }

    /// The attempts so far, the first one assumed to have started at `started`.
    pub(crate) fn attempt(&mut self, started: Instant) -> Attempt {
        self.attempt.take().map_or_else(|| Attempt::starting_at(started), |a| *a)
    }
}

impl Job<()> {
    /// The job with its item back.
    pub(crate) fn with<T>(self, item: T) -> Job<T> {
        let Self { seq, key, item: (), meta, attempt } = self;
        Job { seq, key, item, meta, attempt }
    }
}

/// An item that failed for good, in parts (the output builds the failure).
pub(crate) struct Failed<T, E> {
    pub(crate) item: T,
    pub(crate) cause: Cause<E>,
    pub(crate) class: ErrorClass,
    /// The attempts made (their number, and when the first failed).
    pub(crate) attempt: Attempt,
}

/// A finished item, from a worker to the output.
pub(crate) struct Done<U, T, E> {
    pub(crate) seq: u64,
    /// The consumer that produced it (broadcast), else 0.
    pub(crate) lane: usize,
    pub(crate) meta: Meta,
    /// A failure is boxed: results move in bulk, and most succeed.
    pub(crate) result: Result<U, Box<Failed<T, E>>>,
}
