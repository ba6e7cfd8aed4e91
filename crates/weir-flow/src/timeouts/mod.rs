//! Timeouts on a pipeline's flow: an idle timeout that raises an event
//! (not a failure), and a completion timeout that ends the run.

mod completion;
mod idle;

use std::time::Duration;

use weir_core::Pipeline;

pub use completion::CompletionTimedOut;
pub use idle::Idle;

use completion::Completion;
use idle::IdleStage;

/// Timeouts on a pipeline's flow.
pub trait FlowTimeoutExt<T>: Sized {
    /// Calls `on_idle` when no item has come through for `after`, and
    /// again every `after` while none comes: an event, not a failure (to
    /// log, to alert, to flush something, to close an idle connection).
    /// Put it right after the source to watch the source. Idleness is
    /// timed from when the stage asks its input for an item, so time
    /// spent while downstream was busy (backpressure) does not count.
    /// Items pass unchanged and at once. The stage's reports count the
    /// events (`idle_events`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::FlowTimeoutExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// // Two readings, 25 s apart.
    /// let readings = futures::stream::iter([(0, 1u32), (25, 2)]).then(|(at, x)| async move {
    ///     tokio::time::sleep(Duration::from_secs(at)).await;
    ///     x
    /// });
    /// let events = Arc::new(Mutex::new(Vec::new()));
    /// let seen = events.clone();
    /// let report = Pipeline::new(readings)
    ///     .on_idle("quiet", Duration::from_secs(10), move |idle| seen.lock().unwrap().push(idle.idle_for))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.delivered(), 2);
    /// assert_eq!(*events.lock().unwrap(), [Duration::from_secs(10), Duration::from_secs(20)]);
    /// # Ok(())
    /// # }
    /// ```
    fn on_idle<F>(self, name: &str, after: Duration, on_idle: F) -> Pipeline<T>
    where
        F: FnMut(Idle) + Send + 'static;

    /// Ends the run with [`CompletionTimedOut`] when the items have not all
    /// come through this point within `limit` of the run's start: intake
    /// stops, the items in flight drain, and the run returns the error
    /// (with its report). For a batch job that must finish in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::FlowTimeoutExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let slow = |x: u64| async move {
    ///     tokio::time::sleep(Duration::from_secs(1)).await;
    ///     x
    /// };
    /// let err = Pipeline::from_iter(0..100u64)
    ///     .then("slow", slow)
    ///     .complete_within("nightly", Duration::from_secs(10))
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("did not complete within 10s"), "{err}");
    /// assert!(err.report().unwrap().is_conserved());
    /// # }
    /// ```
    fn complete_within(self, name: &str, limit: Duration) -> Pipeline<T>;
}

impl<T: Send + 'static> FlowTimeoutExt<T> for Pipeline<T> {
    fn on_idle<F>(self, name: &str, after: Duration, on_idle: F) -> Pipeline<T>
    where
        F: FnMut(Idle) + Send + 'static,
    {
        self.stage(IdleStage { name: name.to_owned(), after, on_idle })
    }

    fn complete_within(self, name: &str, limit: Duration) -> Pipeline<T> {
        self.stage(Completion { name: name.to_owned(), limit })
    }
}
