//! A retry layer for sinks: a failing sink is retried, then reported.

use std::fmt;

use weir_core::{Attempt, BuildError, Classify, ErrorClass, Sink, SinkError, Verdict};

use crate::classify::{AllTransient, ByClassify, Classifier, ClassifyFn};
use crate::policy::RetryPolicy;

/// Retries for sinks; see [`RetrySinkExt::retry`].
pub trait RetrySinkExt<T>: Sink<T> + Sized {
    /// Retries a failed `send` (when the sink gives the item back) and a
    /// failed `flush` by `policy`, sleeping between attempts on the sink's
    /// own task; when the policy gives up, the last error (with the item)
    /// is returned, so the pipeline dead-letters it or stops with it. A
    /// send whose item is lost is not retried, nor one whose
    /// [`SinkError::class`] is not retryable (an item the sink can never
    /// take). The retries are counted in
    /// the sink stage's report (`retried`, `retries`, `attempts`) and in the
    /// failure record of an item given back (its attempts, and the first
    /// failure's time), through [`Sink::last_attempt`].
    ///
    /// Every error is worth another try by default; to retry only some,
    /// classify them on the returned layer, where the sink's error type is
    /// known: [`classify(|e| …)`](RetrySink::classify) or
    /// [`classify_by_trait()`](RetrySink::classify_by_trait).
    ///
    /// # Errors
    ///
    /// An invalid policy ([`RetryPolicy::validate`]) is a
    /// [`BuildError::Invalid`] naming the sink's stage, returned by `run()`
    /// or `spawn()` before anything runs (through [`Sink::validate`]); for
    /// a dead-letter store, the stage is the dead-letter stage's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_retry::{RetryPolicy, RetrySinkExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (rows, stored) = sink::collect();
    /// let policy = RetryPolicy::exponential(Duration::from_secs(1)).cap(Duration::from_millis(100));
    /// let err = Pipeline::from_iter(0..3u32).sink_named("rows", rows.retry(policy)).run().await.unwrap_err();
    /// let RunError::Build(BuildError::Invalid { stage, message }) = err else { panic!("{err:?}") };
    /// assert_eq!(stage, "rows");
    /// assert_eq!(message, "delay cap 100ms is below the base delay 1s: raise the cap or lower the base delay");
    /// assert!(stored.is_empty()); // nothing ran
    /// # }
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    /// use weir_retry::{RetryPolicy, RetrySinkExt};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("database is locked")]
    /// struct Locked;
    ///
    /// /// Locked for the first two sends.
    /// struct Db { locked: u32, rows: Vec<u32> }
    ///
    /// impl Sink<u32> for Db {
    ///     type Error = Locked;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, Locked>> {
    ///         if self.locked > 0 {
    ///             self.locked -= 1;
    ///             return Err(SinkError::with_item(Locked, row));
    ///         }
    ///         self.rows.push(row);
    ///         Ok(())
    ///     }
    ///     async fn flush(&mut self) -> Result<(), Locked> { Ok(()) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let policy = RetryPolicy::exponential(Duration::from_millis(10)).max_attempts(5);
    /// let start = tokio::time::Instant::now();
    /// let report = Pipeline::from_iter(0..3u32)
    ///     .sink(Db { locked: 2, rows: Vec::new() }.retry(policy))
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.delivered(), 3);
    /// assert_eq!(start.elapsed(), Duration::from_millis(30)); // 10 ms, then 20 ms
    /// # Ok(())
    /// # }
    /// ```
    fn retry(self, policy: RetryPolicy) -> RetrySink<Self> {
        RetrySink { sink: self, policy, classifier: AllTransient, last: None }
    }
}

impl<T, Si: Sink<T>> RetrySinkExt<T> for Si {}

/// A sink whose failures are retried; see [`RetrySinkExt::retry`]. `K`
/// is the [`Classifier`] that tells which errors are worth retrying
/// (every error by default, [`AllTransient`]).
pub struct RetrySink<Si, K = AllTransient> {
    sink: Si,
    policy: RetryPolicy,
    classifier: K,
    /// The attempts of the latest `send` or `flush`, when it was retried.
    last: Option<Attempt>,
}

impl<Si: fmt::Debug, K> fmt::Debug for RetrySink<Si, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetrySink").field("sink", &self.sink).finish_non_exhaustive()
    }
}

impl<Si, K> RetrySink<Si, K> {
    /// Retries only the errors `f` classes as
    /// [`ErrorClass::Transient`]; after any other, the item is given back
    /// (or the flush fails) at once. `f` receives the sink's error, whose
    /// type is known here, so the closure needs no annotation. (An item
    /// the sink itself gives back with a class that is not retryable, see
    /// [`SinkError::with_class`], is never retried either.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    /// use weir_retry::{RetryPolicy, RetrySinkExt};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum DbError {
    ///     #[error("database is locked")]
    ///     Locked,
    ///     #[error("disk full")]
    ///     DiskFull,
    /// }
    ///
    /// /// Its disk is full: gives every row back.
    /// struct Db;
    ///
    /// impl Sink<u32> for Db {
    ///     type Error = DbError;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, DbError>> {
    ///         Err(SinkError::with_item(DbError::DiskFull, row))
    ///     }
    ///     async fn flush(&mut self) -> Result<(), DbError> { Ok(()) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).max_attempts(5);
    /// let full = Db
    ///     .retry(policy)
    ///     .classify(|e| match e {
    ///         DbError::Locked => ErrorClass::Transient,
    ///         DbError::DiskFull => ErrorClass::Permanent,
    ///     });
    /// let start = tokio::time::Instant::now();
    /// let err = Pipeline::from_iter([1u32]).sink(full).run().await.unwrap_err();
    /// assert!(matches!(err, RunError::Sink { .. }));
    /// assert_eq!(start.elapsed(), Duration::ZERO); // not retried
    /// # }
    /// ```
    pub fn classify<T, F>(self, f: F) -> RetrySink<Si, ClassifyFn<F>>
    where
        Si: Sink<T>,
        F: Fn(&Si::Error) -> ErrorClass + Send + Sync + 'static,
    {
        self.classifier(ClassifyFn::new(f))
    }

    /// Classifies errors by their own [`Classify`] impl, honouring their
    /// [`retry_after`](Classify::retry_after) (bounded by the policy's
    /// cap).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::Sink;
    /// use weir_retry::{RetryPolicy, RetrySinkExt};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("rate limited")]
    /// struct RateLimited;
    ///
    /// impl Classify for RateLimited {
    ///     fn class(&self) -> ErrorClass { ErrorClass::Transient }
    ///     fn retry_after(&self) -> Option<Duration> { Some(Duration::from_secs(1)) }
    /// }
    ///
    /// /// Rate-limits every row, giving it back.
    /// struct Api;
    ///
    /// impl Sink<u32> for Api {
    ///     type Error = RateLimited;
    ///     async fn send(&mut self, row: u32) -> Result<(), SinkError<u32, RateLimited>> {
    ///         Err(SinkError::with_item(RateLimited, row))
    ///     }
    ///     async fn flush(&mut self) -> Result<(), RateLimited> { Ok(()) }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::constant(Duration::from_millis(10)).cap(Duration::from_secs(5)).max_attempts(3);
    /// let limited = Api.retry(policy).classify_by_trait();
    /// let start = tokio::time::Instant::now();
    /// let _ = Pipeline::from_iter([1u32]).sink(limited).run().await;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2)); // 1 s, twice, as the error asked
    /// # }
    /// ```
    pub fn classify_by_trait<T>(self) -> RetrySink<Si, ByClassify>
    where
        Si: Sink<T>,
        Si::Error: Classify,
    {
        self.classifier(ByClassify)
    }

    /// Classifies errors with any [`Classifier`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::sink;
    /// use weir_retry::{AllTransient, RetryPolicy, RetrySinkExt};
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("down")] struct Down;
    /// let policy = RetryPolicy::constant(Duration::from_millis(10));
    /// let store = sink::from_fn(|_: u32| async { Ok::<_, Down>(()) }).retry(policy).classifier(AllTransient);
    /// ```
    pub fn classifier<T, K2>(self, classifier: K2) -> RetrySink<Si, K2>
    where
        Si: Sink<T>,
        K2: Classifier<Si::Error>,
    {
        RetrySink { sink: self.sink, policy: self.policy, classifier, last: self.last }
    }

    /// The wrapped sink.
    pub fn into_inner(self) -> Si {
        self.sink
    }
}

/// Decides what follows a failed attempt; sleeps and returns `true` to retry.
async fn again<K, E>(policy: &RetryPolicy, classifier: &K, attempt: &mut Attempt, error: &E) -> bool
where
    K: Classifier<E>,
    E: fmt::Display,
{
    match policy.decide(attempt, classifier.class(error), classifier.retry_after(error)) {
        Verdict::Retry(delay) => {
            tracing::info!(attempt = attempt.number(), ?delay, error = %error, "retrying the sink");
            attempt.next();
            tokio::time::sleep(delay).await;
            true
        }
        _ => false,
    }
}

impl<T, Si, K> Sink<T> for RetrySink<Si, K>
where
    T: Send + 'static,
    Si: Sink<T>,
    K: Classifier<Si::Error>,
{
    type Error = Si::Error;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Si::Error>> {
        let mut attempt = Attempt::first();
        let mut item = item;
        let result = loop {
            self.policy.deposit();
            let (class, (error, back)) = match self.sink.send(item).await {
                Ok(()) => break Ok(()),
                Err(e) => (e.class(), e.into_parts()),
            };
            let Some(back) = back else { break Err(SinkError::lost(error).with_class(class)) };
            // An item the sink says it can never take is not tried again.
            if !class.is_retryable() || !again(&self.policy, &self.classifier, &mut attempt, &error).await {
                break Err(SinkError::with_item(error, back).with_class(class));
            }
            item = back;
        };
        self.last = (attempt.number() > 1).then_some(attempt);
        result
    }

    async fn flush(&mut self) -> Result<(), Si::Error> {
        let mut attempt = Attempt::first();
        let result = loop {
            self.policy.deposit();
            let error = match self.sink.flush().await {
                Ok(()) => break Ok(()),
                Err(error) => error,
            };
            if !again(&self.policy, &self.classifier, &mut attempt, &error).await {
                break Err(error);
            }
        };
        self.last = (attempt.number() > 1).then_some(attempt);
        result
    }

    /// The attempts of the latest `send` or `flush`, when it was retried:
    /// the pipeline counts the retries in its report and in the record of
    /// an item given back.
    fn last_attempt(&self) -> Option<&Attempt> {
        self.last.as_ref()
    }

    /// Checks the policy ([`RetryPolicy::validate`]: an invalid one is
    /// [`BuildError::Invalid`] with its message), then the wrapped sink.
    /// Outside a pipeline, call it before the first `send`: an invalid
    /// policy otherwise decides within its knobs as given (no retries
    /// after zero attempts), without panicking.
    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.policy.validate().map_err(|e| BuildError::invalid(stage, e))?;
        self.sink.validate(stage)
    }

    fn observe(&self, metrics: &weir_core::StageMetrics) {
        self.sink.observe(metrics);
    }
}
