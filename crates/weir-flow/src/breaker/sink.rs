//! The breaker as a layer on a sink.

use weir_core::Sink;

use super::Breaker;
use crate::guard::GuardedSink;

/// Circuit breakers for sinks; see [`BreakerSinkExt::breaker`].
pub trait BreakerSinkExt<T>: Sink<T> + Sized {
    /// Guards the sink with `breaker`: while it is open, each send (and
    /// flush) waits, so the sink stops taking items and backpressure stops
    /// the source; then the probes go through, and their success lets
    /// every waiting send go on. Nothing is dropped. A send error counts
    /// as a failure when the sink calls it transient
    /// ([`SinkError::class`](weir_core::SinkError::class)) and the classifier agrees (every error by
    /// default; [`GuardedSink::classify`]). With a retry layer, put the
    /// breaker inside (`sink.breaker(b).retry(p)`): each retry then waits
    /// for the breaker.
    ///
    /// Its state is in the sink stage's reports, as for
    /// [`BreakerExt::breaker`](crate::BreakerExt::breaker).
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Breaker::validate`]) are a
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the sink's stage, before anything
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
    fn breaker(self, breaker: Breaker) -> GuardedSink<Self, Breaker> {
        GuardedSink::new(self, breaker)
    }
}

impl<T, Si: Sink<T>> BreakerSinkExt<T> for Si {}
