//! The run's control, shared by every stage of one run: stopping intake,
//! ending the run with an error, halted failures, and the tasks the run
//! owns. The ground floor of the run: stages, failure routes, the plan and
//! the runner all import it; it imports none of them.
//!
//! Its synchronization is taken from crates, not written here, so it is
//! not model-checked with weir's own (TESTING.md): the stop flag is
//! tokio-util's `CancellationToken`, the run's tasks its `TaskTracker`,
//! and the first error and the halted failures sit behind one `Mutex`.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use crate::error::BoxError;
use crate::failure::ErasedFailure;

/// An error that ends a run: a sink that failed for good.
pub(crate) struct Fatal {
    pub(crate) stage: String,
    pub(crate) error: BoxError,
    pub(crate) item: Option<Box<dyn Any + Send>>,
    pub(crate) returned: u64,
}

/// Stops intake. The flag makes the per-item check one atomic load
/// (`CancellationToken::is_cancelled` takes a lock); the token wakes waiters.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    flag: AtomicBool,
    token: CancellationToken,
}

impl Stop {
    pub(crate) fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
        self.token.cancel();
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(crate) fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }
}

#[derive(Default)]
pub(crate) struct RunShared {
    /// Stops taking items from the source (shutdown, halt).
    pub(crate) stop: Stop,
    pub(crate) halted: Mutex<Vec<ErasedFailure>>,
    pub(crate) fatal: Mutex<Option<Fatal>>,
    /// Every task the run's stages spawned: the run ends (and its report
    /// is taken) only once they have all stopped.
    pub(crate) tasks: TaskTracker,
}

impl fmt::Debug for RunShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunShared").field("stopping", &self.stop.is_cancelled()).finish_non_exhaustive()
    }
}

/// Lets a failure route (such as a dead-letter stage) stop the run when it
/// cannot do its job.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// #[derive(Debug, thiserror::Error)]
/// #[error("bad item {0}")]
/// struct Bad(u32);
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("the failure store is down")]
/// struct StoreDown;
///
/// let err = Pipeline::from_iter(0..5u32)
///     .try_map("check", |x| if x == 2 { Err(Bad(x)) } else { Ok(x) })
///     .route_failures(|failure, control: RunControl| async move {
///         // pretend storing the failure failed for good:
///         control.fail(&failure.stage().to_owned(), StoreDown, failure);
///     })
///     .sink(sink::drain())
///     .run()
///     .await
///     .unwrap_err();
/// assert!(matches!(err, RunError::Sink { returned: 1, .. }));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RunControl(pub(crate) Arc<RunShared>);

impl RunControl {
    /// Stops taking items from the source; items in flight drain.
    pub fn stop_intake(&self) {
        self.0.stop.cancel();
    }

    /// Whether intake has stopped.
    pub fn is_stopping(&self) -> bool {
        self.0.stop.is_cancelled()
    }

    /// Ends the run with `error` once in-flight items are drained: stops
    /// intake, counts `failure`'s items as returned, and keeps its item in
    /// the run's error. Only the first such error is kept; later ones are
    /// counted.
    pub fn fail<I, E>(&self, stage: &str, error: impl Into<BoxError>, failure: crate::Failure<I, E>)
    where
        I: Send + 'static,
    {
        let count = failure.count();
        failure.origin().metrics().record_returned(count);
        self.fail_items(stage, error.into(), Some(Box::new(failure.into_item())), count);
    }

    /// Ends the run with `error` once in-flight items are drained, without
    /// an item to return: for an error of a stage's own, such as a
    /// dead-letter file that could not be synced at the end. Stops intake;
    /// only the first such error is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("could not sync the store")]
    /// struct SyncFailed;
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Pipeline::from_iter(0..3)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .route_failures(|failure, control: RunControl| {
    ///         failure.settle(Settled::Discarded);
    ///         control.fail_run("even", SyncFailed);
    ///         std::future::ready(())
    ///     })
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, RunError::Sink { returned: 0, .. }));
    /// # }
    /// ```
    pub fn fail_run(&self, stage: &str, error: impl Into<BoxError>) {
        self.fail_items(stage, error.into(), None, 0);
    }

    /// Makes `task` part of the run: whatever ends the run, its report is
    /// taken only once every such task has stopped. See
    /// [`StageContext::track`](crate::StageContext::track), the same for
    /// stages.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[derive(Debug, thiserror::Error)] #[error("odd")] struct Odd;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..4u32)
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd) })
    ///     .route_failures(|failure, control: RunControl| async move {
    ///         // Settled on a task of the run's own.
    ///         let task = tokio::spawn(control.track(async move { failure.settle(Settled::Discarded) }));
    ///         let _ = task.await;
    ///     })
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.discarded(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn track<F: std::future::Future>(&self, task: F) -> crate::TrackedFuture<F> {
        self.0.tasks.track_future(task)
    }

    /// Keeps the first fatal error; its `returned` counts every item
    /// returned in the run's error, halted failures included (before or
    /// after it), so that it matches the report's `returned`. Both this and
    /// [`halt`](Self::halt) lock `halted` before `fatal`.
    pub(crate) fn fail_items(
        &self,
        stage: &str,
        error: BoxError,
        item: Option<Box<dyn Any + Send>>,
        count: u64,
    ) {
        tracing::error!(stage, error = %error, items = count, "run failed");
        let halted = self.0.halted.lock().unwrap_or_else(|e| e.into_inner());
        let mut fatal = self.0.fatal.lock().unwrap_or_else(|e| e.into_inner());
        match fatal.as_mut() {
            Some(first) => first.returned += count,
            None => {
                let returned = count + halted.iter().map(ErasedFailure::count).sum::<u64>();
                *fatal = Some(Fatal { stage: stage.to_owned(), error, item, returned });
            }
        }
        drop((fatal, halted));
        self.stop_intake();
    }

    pub(crate) fn halt(&self, failure: ErasedFailure) {
        let mut halted = self.0.halted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fatal) = self.0.fatal.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            fatal.returned += failure.count();
        }
        halted.push(failure);
        drop(halted);
        self.stop_intake();
    }
}
