//! Settings of the dead-letter stage.

use std::time::Duration;

use weir_core::BuildError;

/// The default number of records stored in one batch.
pub const DEFAULT_MAX_BATCH: usize = 128;

/// The default number of times the dead-letter stage tries to store a
/// record (or flush the store) before it gives up; see
/// [`DeadLetterOptions::store_attempts`].
pub const DEFAULT_STORE_ATTEMPTS: u32 = 10;

/// The delay before the first retry of the store; each later one doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest delay between two tries of the store.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The largest batch: the batch size is also the capacity of the queue to
/// the writer, and a tokio queue holds at most this many.
pub(crate) const MAX_QUEUE: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// Settings of a dead-letter stage, for
/// [`dead_letter_with`](crate::DeadLetterExt::dead_letter_with).
///
/// - `max_batch` (default [`DEFAULT_MAX_BATCH`]): failures that arrive
///   back-to-back are stored together, up to this many per batch (each
///   record sent to the store, then one flush). The stage hands failures
///   to its writer in groups too: when `max_batch` of them wait, or as
///   soon as the pipeline has nothing else ready for it (so a lone
///   failure in a quiet pipeline is stored at once, and a hot pipeline
///   wakes its writer once per group, not once per failure). It is also
///   the capacity of the queue between the pipeline and the
///   dead-letter writer: a slow store slows the failing stage, nothing
///   grows.
/// - `store_attempts` (default [`DEFAULT_STORE_ATTEMPTS`], 10): how many
///   times a record (or a flush) is tried when the store fails, waiting
///   50 ms before the first retry, doubling each time up to 5 s. When the
///   last try fails the run ends with
///   [`RunError::Sink`](weir_core::RunError::Sink).
/// - `name` (default `"dead-letter"`): the stage name in that error.
///
/// # Examples
///
/// ```
/// use weir_deadletter::DeadLetterOptions;
///
/// let options = DeadLetterOptions::new().max_batch(500).store_attempts(20).name("parse-errors");
/// assert_eq!(options.get_max_batch(), 500);
/// assert_eq!(options.get_store_attempts(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct DeadLetterOptions {
    pub(crate) max_batch: usize,
    pub(crate) store_attempts: u32,
    pub(crate) name: String,
}

impl Default for DeadLetterOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DeadLetterOptions {
    /// The default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::{DEFAULT_MAX_BATCH, DEFAULT_STORE_ATTEMPTS, DeadLetterOptions};
    ///
    /// let options = DeadLetterOptions::new();
    /// assert_eq!(options.get_max_batch(), DEFAULT_MAX_BATCH);
    /// assert_eq!(options.get_store_attempts(), DEFAULT_STORE_ATTEMPTS);
    /// ```
    pub fn new() -> Self {
        Self {
            max_batch: DEFAULT_MAX_BATCH,
            store_attempts: DEFAULT_STORE_ATTEMPTS,
            name: "dead-letter".to_owned(),
        }
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
    /// use weir_deadletter::{DeadLetterExt, DeadLetterOptions};
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (dead, _records) = sink::collect();
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

    /// Tries a record (or a flush) at most `attempts` times when the store
    /// fails, with the stage's own backoff: 50 ms before the first retry,
    /// doubling up to 5 s. Each retry is counted in the report under the
    /// failing stage's [`store_retries`](weir_core::StageReport::store_retries).
    ///
    /// For another schedule (jitter, a budget, errors classified), wrap the
    /// store in a retry layer, such as weir-retry's
    /// `store.retry(policy)`, and set `store_attempts(1)` so that the
    /// stage does not retry what the layer already gave up on. The
    /// layer's retries are counted the same way. A record the store gives
    /// back with an error that is not retryable (see
    /// [`SinkError::with_class`](weir_core::SinkError::with_class)) is
    /// never retried.
    ///
    /// 0 is a [`BuildError`](weir_core::BuildError) returned by `run()`
    /// and `spawn()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::{Sink, SinkError, sink};
    /// use weir_deadletter::{DeadLetter, DeadLetterError, DeadLetterExt, DeadLetterOptions};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("dead-letter database unavailable")]
    /// struct Unavailable;
    ///
    /// /// Always down.
    /// struct Down;
    ///
    /// impl Sink<DeadLetter<u32>> for Down {
    ///     type Error = Unavailable;
    ///     async fn send(&mut self, record: DeadLetter<u32>) -> Result<(), SinkError<DeadLetter<u32>, Unavailable>> {
    ///         Err(SinkError::with_item(Unavailable, record))
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Unavailable> { Ok(()) }
    /// }
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let started = tokio::time::Instant::now();
    /// let err = Pipeline::from_iter(0..4u32)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .dead_letter_with(Down, DeadLetterOptions::new().store_attempts(3))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// let RunError::Sink { error, .. } = err else { panic!("{err:?}") };
    /// assert!(matches!(error.downcast_ref(), Some(DeadLetterError::StoreFailed { attempts: 3, .. })));
    /// assert_eq!(started.elapsed().as_millis(), 150); // 50 ms, then 100 ms
    /// # }
    /// ```
    pub fn store_attempts(mut self, attempts: u32) -> Self {
        self.store_attempts = attempts;
        self
    }

    /// Names the stage in the run's error when the store fails for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::DeadLetterOptions;
    ///
    /// let options = DeadLetterOptions::new().name("parse-errors");
    /// assert_eq!(options.get_name(), "parse-errors");
    /// ```
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// The batch size.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::DeadLetterOptions;
    ///
    /// assert_eq!(DeadLetterOptions::new().max_batch(16).get_max_batch(), 16);
    /// ```
    pub fn get_max_batch(&self) -> usize {
        self.max_batch
    }

    /// How many times a record or a flush is tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::DeadLetterOptions;
    ///
    /// assert_eq!(DeadLetterOptions::new().store_attempts(1).get_store_attempts(), 1);
    /// ```
    pub fn get_store_attempts(&self) -> u32 {
        self.store_attempts
    }

    /// The stage's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_deadletter::DeadLetterOptions;
    ///
    /// assert_eq!(DeadLetterOptions::new().get_name(), "dead-letter");
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Checks the settings; the error names the stage.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let stage = || self.name.clone();
        if self.max_batch == 0 {
            return Err(BuildError::Zero { stage: stage(), what: "max_batch" });
        }
        if self.store_attempts == 0 {
            return Err(BuildError::Zero { stage: stage(), what: "store_attempts" });
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

/// The delay before the next try of the store after `tries` failed ones,
/// or `None` when `attempts` are used up: 50 ms, doubling, capped at 5 s.
pub(crate) fn store_backoff(tries: u32, attempts: u32) -> Option<Duration> {
    if tries >= attempts {
        return None;
    }
    let doublings = tries.saturating_sub(1).min(16);
    Some(FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::store_backoff;

    #[test]
    fn the_backoff_doubles_from_50_ms_up_to_5_s_and_stops_at_the_last_attempt() {
        let ms = Duration::from_millis;
        let delays: Vec<_> = (1..=10).map_while(|tries| store_backoff(tries, 10)).collect();
        assert_eq!(
            delays,
            [ms(50), ms(100), ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(5000), ms(5000)]
        );
        assert_eq!(store_backoff(1, 1), None);
        assert_eq!(store_backoff(u32::MAX - 1, u32::MAX), Some(ms(5000)));
    }
}
