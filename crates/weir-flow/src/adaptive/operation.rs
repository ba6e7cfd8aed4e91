//! The adaptive limit as a layer on an operation.

use weir_core::Operation;

use super::Adaptive;
use crate::guard::Guarded;

/// Adaptive concurrency for operations; see [`AdaptiveExt::adaptive`].
pub trait AdaptiveExt<In>: Operation<In> + Sized {
    /// Runs the operation's calls within `adaptive`'s limit: a call waits
    /// while the limit's worth are in flight. Give the fan-out as many
    /// workers as the limit's upper bound; the limit decides how many
    /// call at once. Its round-trip times and overload errors (every
    /// error by default; classify with [`Guarded::classify`] so that
    /// permanent errors do not count) move the limit; see [`Adaptive`].
    /// Put an attempt timeout inside (`op.timeout(d).adaptive(a)`): a
    /// timeout then counts as overload.
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Adaptive::validate`]) are a
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the
    /// stage, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_fanout::{FanOut, FanOutExt};
    /// use weir_flow::{Adaptive, AdaptiveExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let store = |row: u32| async move {
    ///     tokio::time::sleep(Duration::from_millis(5)).await;
    ///     Ok::<_, std::io::Error>(row)
    /// };
    /// let adaptive = Adaptive::new().bounds(1, 64);
    /// let report = Pipeline::from_iter(0..10_000u32)
    ///     .fan_out("store", FanOut::workers(64), store.adaptive(adaptive.clone()))
    ///     .discard_failures()
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.delivered(), 10_000);
    /// // Nothing slowed down as more were in flight: it went up to the bound.
    /// assert_eq!(adaptive.limit(), 64);
    /// # Ok(())
    /// # }
    /// ```
    fn adaptive(self, adaptive: Adaptive) -> Guarded<Self, Adaptive> {
        Guarded::new(self, adaptive)
    }
}

impl<In, Op: Operation<In>> AdaptiveExt<In> for Op {}
