//! The breaker as a layer on an operation.

use weir_core::Operation;

use super::Breaker;
use crate::guard::Guarded;

/// Circuit breakers for operations; see [`BreakerExt::breaker`].
pub trait BreakerExt<In>: Operation<In> + Sized {
    /// Guards the operation with `breaker`: each call waits while the
    /// breaker is open (or half-open and not a probe), then runs, and its
    /// result is counted. A fan-out's workers then wait too, its queue
    /// fills, and it stops taking items: backpressure stops the source,
    /// and nothing is dropped. A retry layer inside (`op.retry(p)
    /// .breaker(b)`) or outside (`op.breaker(b).retry(p)`) keeps its
    /// decisions; its retries wait like any call, so none are made, and
    /// none taken from its budget, while the breaker is open. Put an
    /// attempt timeout inside the breaker (`op.timeout(d).breaker(b)`):
    /// outside, it would also time the wait.
    ///
    /// Every error counts as a failure by default; classify to count only
    /// transient ones ([`Guarded::classify`],
    /// [`Guarded::classify_by_trait`]).
    ///
    /// The breaker's state, the times it opened and closed, and the calls
    /// waiting are gauges in the stage's reports (`breaker_state`: 0
    /// closed, 1 half-open, 2 open; `breaker_opened`, `breaker_closed`,
    /// `breaker_waiting`); each change of state is traced.
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Breaker::validate`]) are a
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the stage, from `run()` or
    /// `spawn()`, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::operation::call;
    /// use weir_flow::{Breaker, BreakerExt, BreakerState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = Breaker::new().min_calls(2).cool_down(Duration::from_secs(1));
    /// let store = |x: u32| async move { if x < 10 { Err("database down") } else { Ok(x) } };
    /// let guarded = store.breaker(breaker.clone());
    /// assert!(call(&guarded, 1).await.is_err());
    /// assert!(call(&guarded, 2).await.is_err());
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// // The next call waits out the cool-down, goes through as the probe,
    /// // and its success closes the breaker.
    /// let start = tokio::time::Instant::now();
    /// assert_eq!(call(&guarded, 10).await.unwrap(), 10);
    /// assert_eq!(start.elapsed(), Duration::from_secs(1));
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// # }
    /// ```
    fn breaker(self, breaker: Breaker) -> Guarded<Self, Breaker> {
        Guarded::new(self, breaker)
    }
}

impl<In, Op: Operation<In>> BreakerExt<In> for Op {}
