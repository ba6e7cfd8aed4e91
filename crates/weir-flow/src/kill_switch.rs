//! A kill switch shared by several pipelines.

use std::fmt;

use tokio::sync::watch;
use weir_core::{PipelineHandle, Report, RunError, Runnable};

/// What a [`KillSwitch`] was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Run,
    Shutdown,
    Abort,
}

/// Stops every pipeline it guards at once, on purpose: Akka's shared kill
/// switch for weir. [`shutdown`](Self::shutdown) stops their intake and
/// lets what is in flight drain (each pipeline's drain timeout still
/// applies); [`abort`](Self::abort) stops them at once, abandoning what
/// is in flight (counted as such in each report). The first order holds:
/// an abort after a shutdown still aborts; a shutdown after an abort
/// changes nothing. A pipeline guarded after an order obeys it at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_flow::KillSwitch;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// let switch = KillSwitch::new();
/// let endless = || futures::stream::repeat(1u32).then(|x| async move {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     x
/// });
/// let a = tokio::spawn(switch.guard(Pipeline::new(endless()).sink(sink::drain())));
/// let b = tokio::spawn(switch.guard(Pipeline::new(endless()).sink(sink::drain())));
/// tokio::time::sleep(Duration::from_secs(1)).await;
/// switch.shutdown();
/// let (a, b) = (a.await.unwrap()?, b.await.unwrap()?);
/// assert!(a.delivered() > 0 && b.delivered() > 0);
/// assert!(a.is_conserved() && b.is_conserved());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct KillSwitch {
    order: watch::Sender<Order>,
}

impl Default for KillSwitch {
    fn default() -> Self {
        Self::new()
    }
}

impl KillSwitch {
    /// A switch that has not been thrown.
    pub fn new() -> Self {
        Self { order: watch::Sender::new(Order::Run) }
    }

    /// Stops the intake of every pipeline it guards; their items in
    /// flight drain.
    pub fn shutdown(&self) {
        self.order.send_if_modified(|order| {
            let first = *order == Order::Run;
            if first {
                *order = Order::Shutdown;
            }
            first
        });
    }

    /// Stops every pipeline it guards at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::KillSwitch;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let switch = KillSwitch::new();
    /// let stuck = Pipeline::from_iter(0..3u32).then("stuck", |x| async move {
    ///     std::future::pending::<()>().await;
    ///     x
    /// });
    /// let run = tokio::spawn(switch.guard(stuck.sink(sink::drain())));
    /// tokio::time::sleep(Duration::from_secs(1)).await;
    /// switch.abort();
    /// let report = run.await.unwrap()?;
    /// assert_eq!(report.ending(), weir_core::Ending::Aborted);
    /// assert!(report.abandoned() > 0 && report.is_conserved(), "{report}");
    /// assert!(switch.is_thrown());
    /// # Ok(())
    /// # }
    /// ```
    pub fn abort(&self) {
        self.order.send_if_modified(|order| {
            let changed = *order != Order::Abort;
            *order = Order::Abort;
            changed
        });
    }

    /// Whether it was thrown (either way).
    pub fn is_thrown(&self) -> bool {
        *self.order.borrow() != Order::Run
    }

    /// Runs `pipeline` under this switch: its result, however it ended.
    /// The future owns what it needs (spawn it, or await it).
    ///
    /// # Errors
    ///
    /// As [`Runnable::run`]; a configuration error before anything runs.
    pub fn guard(
        &self,
        pipeline: Runnable,
    ) -> impl Future<Output = Result<Report, RunError>> + Send + 'static {
        let switch = self.clone();
        async move {
            let handle = pipeline.spawn().map_err(RunError::Build)?;
            switch.watch(handle).await
        }
    }

    /// Watches a pipeline already spawned: its result, however it ended.
    /// The future owns what it needs.
    ///
    /// # Errors
    ///
    /// As [`PipelineHandle::join`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_flow::KillSwitch;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let switch = KillSwitch::new();
    /// let ticks = futures::stream::repeat(1u32).then(|x| async move {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    ///     x
    /// });
    /// // Spawned elsewhere (with its own settings), then put under the switch.
    /// let handle = Pipeline::new(ticks).sink(sink::drain()).spawn().map_err(RunError::Build)?;
    /// let watched = tokio::spawn(switch.watch(handle));
    /// tokio::time::sleep(Duration::from_millis(100)).await;
    /// switch.shutdown();
    /// let report = watched.await.unwrap()?;
    /// assert!(report.delivered() > 0 && report.is_conserved());
    /// # Ok(())
    /// # }
    /// ```
    pub fn watch(
        &self,
        handle: PipelineHandle,
    ) -> impl Future<Output = Result<Report, RunError>> + Send + 'static {
        let signals = handle.signals();
        let mut orders = self.order.subscribe();
        // Passes the orders on to the run; never ends by itself.
        let forward = async move {
            loop {
                match *orders.borrow_and_update() {
                    Order::Run => {}
                    Order::Shutdown => signals.shutdown(),
                    Order::Abort => signals.abort(),
                }
                if orders.changed().await.is_err() {
                    // Every clone of the switch is gone: no order can come.
                    std::future::pending::<()>().await;
                }
            }
        };
        async move {
            tokio::select! {
                result = handle.join() => result,
                () = forward => unreachable!("forwarding orders never ends"),
            }
        }
    }
}

impl fmt::Debug for KillSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillSwitch").field("order", &*self.order.borrow()).finish()
    }
}
