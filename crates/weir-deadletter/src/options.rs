//! Settings of the dead-letter stage.

use std::time::Duration;

use weir_core::BuildError;
use weir_retry::RetryPolicy;

/// The default number of records stored in one batch.
pub const DEFAULT_MAX_BATCH: usize = 128;

/// The largest batch: the batch size is also the capacity of the queue to
/// the writer, and a tokio queue holds at most this many.
pub(crate) const MAX_QUEUE: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// Settings of a dead-letter stage, for
/// [`dead_letter_with`](crate::DeadLetterExt::dead_letter_with).
///
/// - `max_batch` (default [`DEFAULT_MAX_BATCH`]): failures that arrive
///   back-to-back are stored together, up to this many per batch; a batch
///   is stored as soon as no more failures are waiting, so a lone failure
///   is stored at once. It is also the capacity of the queue between the
///   pipeline and the dead-letter writer: a slow dead-letter sink slows the
///   failing stage, nothing grows.
/// - `retry` (default: exponential from 50 ms, capped at 5 s, 10 attempts):
///   the policy for a batch the sink failed to store. When it gives up the
///   run ends with [`RunError::Sink`](weir_core::RunError::Sink).
/// - `name` (default `"dead-letter"`): the stage name in that error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_deadletter::DeadLetterOptions;
/// use weir_retry::RetryPolicy;
///
/// let options = DeadLetterOptions::new()
///     .max_batch(500)
///     .retry(RetryPolicy::constant(Duration::from_millis(100)).max_attempts(20).build()?)
///     .name("parse-errors");
/// assert_eq!(options.get_max_batch(), 500);
/// # Ok::<(), weir_retry::InvalidPolicy>(())
/// ```
#[derive(Debug, Clone)]
pub struct DeadLetterOptions {
    pub(crate) max_batch: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) name: String,
}

impl Default for DeadLetterOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DeadLetterOptions {
    /// The default settings.
    pub fn new() -> Self {
        let retry = RetryPolicy::exponential(Duration::from_millis(50))
            .cap(Duration::from_secs(5))
            .max_attempts(10)
            .build()
            .expect("the default dead-letter retry policy is valid");
        Self { max_batch: DEFAULT_MAX_BATCH, retry, name: "dead-letter".to_owned() }
    }

    /// Stores at most `max_batch` records per batch.
    ///
    /// The value is checked when the pipeline is built: 0, or more than a
    /// queue can hold (tokio's `Semaphore::MAX_PERMITS`), makes `run()` and
    /// `spawn()` return a [`BuildError`](weir_core::BuildError) naming the
    /// stage, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_deadletter::{DeadLetterExt, DeadLetterOptions, memory};
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (dead, _records) = memory();
    /// let err = Pipeline::from_iter(0..4)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .dead_letter_with(dead, DeadLetterOptions::new().max_batch(0))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// let RunError::Build(BuildError::Zero { stage, what }) = err else { panic!("{err:?}") };
    /// assert_eq!((stage.as_str(), what), ("dead-letter", "max_batch"));
    /// # }
    /// ```
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// Retries a batch the sink failed to store with `policy`.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Names the stage in the run's error when the sink fails for good.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// The batch size.
    pub fn get_max_batch(&self) -> usize {
        self.max_batch
    }

    /// Checks the settings; the error names the stage.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let stage = || self.name.clone();
        if self.max_batch == 0 {
            return Err(BuildError::Zero { stage: stage(), what: "max_batch" });
        }
        let limit = MAX_QUEUE;
        if self.max_batch > limit {
            let message = format!(
                "max_batch is {}, more than the {limit} failures a queue can hold; use a smaller batch (the default is {DEFAULT_MAX_BATCH})",
                self.max_batch
            );
            return Err(BuildError::Invalid { stage: stage(), message });
        }
        Ok(())
    }
}
