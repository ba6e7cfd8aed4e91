//! A guard as a layer on a sink.

use std::fmt;

use weir_core::{Attempt, BuildError, ErrorClass, Sink, SinkError, StageMetrics};
use weir_retry::{AllTransient, Classifier, ClassifyFn};

use super::Guard;

/// A sink whose sends and flushes go through a [`Guard`]: made by
/// [`BreakerSinkExt::breaker`](crate::BreakerSinkExt::breaker) or
/// [`AdaptiveSinkExt::adaptive`](crate::AdaptiveSinkExt::adaptive).
///
/// ```
/// use weir_core::sink;
/// use weir_flow::{Breaker, BreakerSinkExt};
///
/// let (rows, _stored) = sink::collect::<u32>();
/// let guarded = rows.breaker(Breaker::new());
/// # let _ = guarded;
/// ```
pub struct GuardedSink<Si, G, K = AllTransient> {
    sink: Si,
    guard: G,
    classifier: K,
}

impl<Si, G> GuardedSink<Si, G> {
    pub(crate) fn new(sink: Si, guard: G) -> Self {
        Self { sink, guard, classifier: AllTransient }
    }
}

impl<Si, G, K> GuardedSink<Si, G, K> {
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
    pub fn classify<E, F>(self, f: F) -> GuardedSink<Si, G, ClassifyFn<F>>
    where
        F: Fn(&E) -> ErrorClass + Send + Sync + 'static,
    {
        GuardedSink { sink: self.sink, guard: self.guard, classifier: ClassifyFn::new(f) }
    }

    /// The guard (a clone shares its state).
    pub fn guard(&self) -> &G {
        &self.guard
    }
}

impl<T, Si, G, K> Sink<T> for GuardedSink<Si, G, K>
where
    T: Send + 'static,
    Si: Sink<T>,
    G: Guard,
    K: Classifier<Si::Error>,
{
    type Error = Si::Error;

    async fn send(&mut self, item: T) -> Result<(), SinkError<T, Si::Error>> {
        let (sink, classifier) = (&mut self.sink, &self.classifier);
        let failed = |result: &Result<(), SinkError<T, Si::Error>>| {
            matches!(result, Err(e) if e.class() == ErrorClass::Transient
                && classifier.class(e.error()) == ErrorClass::Transient)
        };
        self.guard.guard(move || sink.send(item), failed).await
    }

    async fn flush(&mut self) -> Result<(), Si::Error> {
        let (sink, classifier) = (&mut self.sink, &self.classifier);
        let failed = |result: &Result<(), Si::Error>| matches!(result, Err(e) if classifier.class(e) == ErrorClass::Transient);
        self.guard.guard(move || sink.flush(), failed).await
    }

    fn last_attempt(&self) -> Option<&Attempt> {
        self.sink.last_attempt()
    }

    fn validate(&self, stage: &str) -> Result<(), BuildError> {
        self.guard.validate_for(stage)?;
        self.sink.validate(stage)
    }

    fn observe(&self, metrics: &StageMetrics) {
        self.guard.observe(metrics);
        self.sink.observe(metrics);
    }
}

impl<Si, G: fmt::Debug, K> fmt::Debug for GuardedSink<Si, G, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedSink").field("guard", &self.guard).finish_non_exhaustive()
    }
}
