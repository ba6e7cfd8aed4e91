//! The breaker as a layer on a sink.

use std::fmt;

use weir_core::{Attempt, BuildError, ErrorClass, Sink, SinkError, StageMetrics};
use weir_retry::{AllTransient, Classifier, ClassifyFn};

use super::Breaker;

/// Circuit breakers for sinks; see [`BreakerSinkExt::breaker`].
pub trait BreakerSinkExt<T>: Sink<T> + Sized {
    /// Guards the sink with `breaker`: while it is open, each send (and
    /// flush) waits, so the sink stops taking items and backpressure stops
    /// the source; then the probes go through, and their success lets
    /// every waiting send go on. Nothing is dropped. A send error counts
    /// as a failure when the sink calls it transient
    /// ([`SinkError::class`]) and the classifier agrees (every error by
    /// default; [`BreakingSink::classify`]). With a retry layer, put the
    /// breaker inside (`sink.breaker(b).retry(p)`): each retry then waits
    /// for the breaker.
    ///
    /// Its state is in the sink stage's reports, as for
    /// [`BreakerExt::breaker`](crate::BreakerExt::breaker).
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Breaker::validate`]) are a
    /// [`BuildError::Invalid`] naming the sink's stage, before anything
    /// runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::{Breaker, BreakerSinkExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let (rows, stored) = sink::collect();
    /// let report = Pipeline::from_iter(0..5u32).sink_named("rows", rows.breaker(Breaker::new())).run().await?;
    /// assert_eq!(stored.len(), 5);
    /// assert_eq!(report.stage("rows").unwrap().gauges[0], ("breaker_state".to_owned(), 0));
    /// # Ok(())
    /// # }
    /// ```
    fn breaker(self, breaker: Breaker) -> BreakingSink<Self> {
        BreakingSink { sink: self, breaker, classifier: AllTransient }
    }
}

impl<T, Si: Sink<T>> BreakerSinkExt<T> for Si {}

/// A sink guarded by a [`Breaker`]; see [`BreakerSinkExt::breaker`].
///
/// ```
/// use weir_core::sink;
/// use weir_flow::{Breaker, BreakerSinkExt};
///
/// let (rows, _stored) = sink::collect::<u32>();
/// let guarded = rows.breaker(Breaker::new());
/// # let _ = guarded;
/// ```
pub struct BreakingSink<Si, K = AllTransient> {
    sink: Si,
    breaker: Breaker,
    classifier: K,
}

impl<Si, K> BreakingSink<Si, K> {
    /// Counts an error as a failure only when `f` calls it
    /// [transient](ErrorClass::Transient) (and the sink did too).
    ///
    /// ```
    /// use weir_core::{ErrorClass, sink};
    /// use weir_flow::{Breaker, BreakerSinkExt};
    ///
    /// let (rows, _stored) = sink::collect::<u32>();
    /// let guarded = rows.breaker(Breaker::new()).classify(|_: &std::convert::Infallible| ErrorClass::Transient);
    /// # let _ = guarded;
    /// ```
    pub fn classify<E, F>(self, f: F) -> BreakingSink<Si, ClassifyFn<F>>
    where
        F: Fn(&E) -> ErrorClass + Send + Sync + 'static,
    {
        BreakingSink { sink: self.sink, breaker: self.breaker, classifier: ClassifyFn::new(f) }
    }

    /// The breaker (a clone shares its state).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<T, Si, K> Sink<T> for BreakingSink<Si, K>
where
    T: Send + 'static,
    Si: Sink<T>,
    K: Classifier<Si::Error>,
{
    type Error = Si::Error;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Si::Error>> {
        let shared = self.breaker.shared.clone();
        let pass = shared.admit().await;
        let result = self.sink.send(item).await;
        let failed = matches!(&result, Err(e) if e.class() == ErrorClass::Transient
            && self.classifier.class(e.error()) == ErrorClass::Transient);
        shared.record(pass, failed);
        result
    }

    async fn flush(&mut self) -> Result<(), Si::Error> {
        let shared = self.breaker.shared.clone();
        let pass = shared.admit().await;
        let result = self.sink.flush().await;
        let failed = matches!(&result, Err(e) if self.classifier.class(e) == ErrorClass::Transient);
        shared.record(pass, failed);
        result
    }

    fn last_attempt(&self) -> Option<&Attempt> {
        self.sink.last_attempt()
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.breaker.validate_for(stage)?;
        self.sink.validate(stage)
    }

    fn observe(&self, metrics: &StageMetrics) {
        self.breaker.observe(metrics);
        self.sink.observe(metrics);
    }
}

impl<Si, K> fmt::Debug for BreakingSink<Si, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakingSink").field("breaker", &self.breaker).finish_non_exhaustive()
    }
}
