//! The adaptive limit as a layer on sinks.

use weir_core::Sink;

use super::Adaptive;
use crate::guard::GuardedSink;

/// Adaptive concurrency for sinks; see [`AdaptiveSinkExt::adaptive`].
pub trait AdaptiveSinkExt<T>: Sink<T> + Sized {
    /// Sends within `adaptive`'s limit. A sink sends one batch at a time,
    /// so the limit matters when several sinks share it (clones of one
    /// [`Adaptive`]): one per connection, per pipeline or per host, all
    /// writing to one database, which then sees no more writes at once
    /// than the limit, a limit found from their round-trip times.
    ///
    /// # Errors
    ///
    /// As [`AdaptiveExt::adaptive`](crate::AdaptiveExt::adaptive).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::{Adaptive, AdaptiveSinkExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let shared = Adaptive::new().bounds(1, 8);
    /// let (a, _) = sink::collect::<u32>();
    /// let (b, _) = sink::collect::<u32>();
    /// let one = Pipeline::from_iter(0..100u32).sink_named("db", a.adaptive(shared.clone())).run();
    /// let two = Pipeline::from_iter(0..100u32).sink_named("db", b.adaptive(shared.clone())).run();
    /// let (one, two) = tokio::join!(one, two);
    /// assert_eq!(one?.delivered() + two?.delivered(), 200);
    /// # Ok(())
    /// # }
    /// ```
    fn adaptive(self, adaptive: Adaptive) -> GuardedSink<Self, Adaptive> {
        GuardedSink::new(self, adaptive)
    }
}

impl<T, Si: Sink<T>> AdaptiveSinkExt<T> for Si {}
