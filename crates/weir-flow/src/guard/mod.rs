//! What the breaker and the adaptive limit share: a guard around each
//! call of an operation or a sink, and the layers that put it there.

mod operation;
mod sink;

use std::future::Future;

use weir_core::{BuildError, StageMetrics};

pub use operation::Guarded;
pub use sink::GuardedSink;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Breaker {}
    impl Sealed for crate::Adaptive {}
}

/// A guard around each call: a [`Breaker`](crate::Breaker) or an
/// [`Adaptive`](crate::Adaptive) limit. Sealed: the layers
/// ([`Guarded`], [`GuardedSink`]) take one of these.
pub trait Guard: sealed::Sealed + Clone + Send + Sync + 'static {
    /// Makes the call `call` makes when the guard lets it, and counts its
    /// outcome (`failed`: whether it counts as a failure, an overload).
    fn guard<R, Fut>(
        &self,
        call: impl FnOnce() -> Fut + Send,
        failed: impl FnOnce(&R) -> bool + Send,
    ) -> impl Future<Output = R> + Send
    where
        Fut: Future<Output = R> + Send,
        R: Send;

    /// Checks the settings for the stage `stage`.
    ///
    /// # Errors
    ///
    /// A [`BuildError::Invalid`] naming the stage.
    fn validate_for(&self, stage: &str) -> Result<(), BuildError>;

    /// Publishes its gauges into the stage's reports.
    fn observe(&self, metrics: &StageMetrics);
}

impl Guard for crate::Breaker {
    async fn guard<R, Fut>(
        &self,
        call: impl FnOnce() -> Fut + Send,
        failed: impl FnOnce(&R) -> bool + Send,
    ) -> R
    where
        Fut: Future<Output = R> + Send,
        R: Send,
    {
        let pass = self.shared.admit().await;
        let result = call().await;
        self.shared.record(pass, failed(&result));
        result
    }

    fn validate_for(&self, stage: &str) -> Result<(), BuildError> {
        crate::Breaker::validate_for(self, stage)
    }

    fn observe(&self, metrics: &StageMetrics) {
        crate::Breaker::observe(self, metrics);
    }
}

impl Guard for crate::Adaptive {
    async fn guard<R, Fut>(
        &self,
        call: impl FnOnce() -> Fut + Send,
        failed: impl FnOnce(&R) -> bool + Send,
    ) -> R
    where
        Fut: Future<Output = R> + Send,
        R: Send,
    {
        self.shared.run(call, failed).await
    }

    fn validate_for(&self, stage: &str) -> Result<(), BuildError> {
        crate::Adaptive::validate_for(self, stage)
    }

    fn observe(&self, metrics: &StageMetrics) {
        crate::Adaptive::observe(self, metrics);
    }
}
