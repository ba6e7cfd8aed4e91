//! Running a pipeline: to completion, until a signal, or in the background
//! with a handle for graceful shutdown.

pub(crate) mod drive;
mod handle;
pub(crate) mod stream;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use handle::{Monitor, PipelineHandle, Signals};
pub use stream::PipelineStream;

use crate::control::RunShared;
use crate::error::{BuildError, RunError};
use crate::metrics::StageRef;
use crate::panic::panic_message;
use crate::plan::{Assembly, Plan};
use crate::report::{Ending, Report};

type BuildRun = Box<dyn FnOnce(&mut Assembly) -> BoxFuture<'static, bool> + Send>;

/// The default time `shutdown()` lets in-flight items drain before it aborts them.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A pipeline connected to its sink, ready to run.
///
/// - [`run`](Runnable::run) drives it until the source ends;
/// - [`run_until`](Runnable::run_until) also stops intake when a signal
///   fires (Ctrl-C), drains in-flight items and returns the report;
/// - [`spawn`](Runnable::spawn) runs it in the background and returns a
///   [`PipelineHandle`] for live metrics and `shutdown()`.
///
/// Every task the pipeline spawns belongs to the run: dropping the run
/// future (or the handle) aborts them all. Whatever ends a run
/// (completion, shutdown, drain deadline, abort, panic), its report is
/// taken only once every task of the pipeline has stopped and intake has
/// stopped: what the report counts is final.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(Duration::from_secs(1)));
/// let report = Pipeline::new(ticks)
///     .sink(sink::drain())
///     .drain_timeout(Duration::from_secs(5))
///     .run_until(tokio::time::sleep(Duration::from_millis(3500)))
///     .await?;
/// assert_eq!(report.delivered(), 4); // ticks at 0, 1, 2 and 3 s
/// assert_eq!(report.ending(), Ending::Drained);
/// # Ok(())
/// # }
/// ```
#[must_use = "a pipeline does nothing until it is run"]
pub struct Runnable {
    build: BuildRun,
    plan: Plan,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Runnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runnable")
            .field("plan", &self.plan)
            .field("drain_timeout", &self.drain_timeout)
            .finish_non_exhaustive()
    }
}

/// A run whose stages are built, not yet polled.
pub(crate) struct Assembled {
    drive: BoxFuture<'static, bool>,
    stages: Vec<StageRef>,
    shared: Arc<RunShared>,
    drain_timeout: Duration,
}

impl Runnable {
    pub(crate) fn new(build: BuildRun, plan: Plan) -> Self {
        Self { build, plan, drain_timeout: DEFAULT_DRAIN_TIMEOUT }
    }

    /// How long a shutdown lets in-flight items drain before aborting them
    /// (default [`DEFAULT_DRAIN_TIMEOUT`]). Aborted items are counted as
    /// abandoned, per stage, and are not acknowledged. A timeout of
    /// [`NEVER_AFTER`](crate::time::NEVER_AFTER) or more (such as
    /// `Duration::MAX`) never aborts: shutdown waits for every item.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    fn assemble(self) -> Result<Assembled, BuildError> {
        self.plan.validate()?;
        let mut asm = Assembly::new();
        let drive = (self.build)(&mut asm);
        Ok(Assembled { drive, stages: asm.stages, shared: asm.shared, drain_timeout: self.drain_timeout })
    }

    /// Runs the pipeline until its source ends and every item reached its
    /// outcome.
    ///
    /// # Errors
    ///
    /// [`RunError::Build`] for an invalid configuration (nothing runs);
    /// otherwise as described on [`RunError`]'s variants, each with the
    /// report.
    pub async fn run(self) -> Result<Report, RunError> {
        self.run_until(std::future::pending()).await
    }

    /// Runs the pipeline until its source ends or `signal` completes. On
    /// the signal, intake stops, every in-flight item drains through the
    /// remaining stages and the sink, and the report is returned; past the
    /// drain timeout the rest is aborted and counted as abandoned.
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<Report, RunError> {
        let assembled = self.assemble()?;
        let span = tracing::info_span!("weir.run");
        execute(assembled, signal, CancellationToken::new()).instrument(span).await
    }

    /// Runs the pipeline on a new task and returns its handle.
    ///
    /// # Errors
    ///
    /// The configuration error, if any; nothing is spawned then.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn spawn(self) -> Result<PipelineHandle, BuildError> {
        let assembled = self.assemble()?;
        Ok(PipelineHandle::spawn(assembled))
    }
}

/// `pipeline.sink(s).await` runs it, like [`Runnable::run`].
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..3).sink(sink::drain()).await?;
/// assert_eq!(report.delivered(), 3);
/// # Ok(())
/// # }
/// ```
impl std::future::IntoFuture for Runnable {
    type Output = Result<Report, RunError>;
    type IntoFuture = BoxFuture<'static, Result<Report, RunError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Drives an assembled run to its end and builds the result.
pub(crate) async fn execute(
    assembled: Assembled,
    signal: impl Future<Output = ()>,
    abort: CancellationToken,
) -> Result<Report, RunError> {
    let Assembled { drive, stages, shared, drain_timeout } = assembled;
    let started = tokio::time::Instant::now();
    let stop = &shared.stop;
    let deadline = async {
        tokio::select! {
            () = signal => stop.cancel(),
            () = stop.cancelled() => {}
        }
        tracing::info!(timeout = ?drain_timeout, "intake stopped; draining");
        crate::time::sleep_until(crate::time::deadline_after(drain_timeout)).await;
        tracing::warn!("drain timeout passed; aborting the remaining work");
    };
    // The signal and the deadline are polled before the drive: a drive
    // that always has work spends the task's whole cooperative budget,
    // and what is polled after it would never see its signal or timer
    // (a shutdown that never stops intake, a drain that never times out).
    let outcome = tokio::select! {
        biased;
        () = abort.cancelled() => None,
        () = deadline => None,
        outcome = AssertUnwindSafe(drive).catch_unwind() => Some(outcome),
    };
    // The stages are dropped now, which aborts their tasks; on a forced
    // ending those may still be running on other threads. Stop intake
    // and wait until every task has stopped: the report is then final
    // (nothing is pulled, stored or acknowledged after it).
    if !matches!(outcome, Some(Ok(false))) {
        stop.cancel();
    }
    shared.tasks.close();
    shared.tasks.wait().await;
    let halted = std::mem::take(&mut *shared.halted.lock().unwrap_or_else(|e| e.into_inner()));
    let fatal = shared.fatal.lock().unwrap_or_else(|e| e.into_inner()).take();
    let ending = match &outcome {
        None | Some(Err(_)) | Some(Ok(true)) => Ending::Aborted,
        Some(Ok(false)) if fatal.is_some() || !halted.is_empty() => Ending::Halted,
        Some(Ok(false)) if stop.is_cancelled() => Ending::Drained,
        Some(Ok(false)) => Ending::Completed,
    };
    let report = Report::snapshot(&stages, started.elapsed(), ending);
    if report.is_conserved() {
        tracing::info!(ending = ?ending, items = report.source_items(), "run ended");
    } else {
        tracing::error!(%report, "conservation violated: a stage lost items without counting them");
    }
    let report = Box::new(report);
    if let Some(Err(payload)) = outcome {
        return Err(RunError::Panicked { message: panic_message(&*payload), report });
    }
    if let Some(fatal) = fatal {
        return Err(RunError::Sink {
            stage: fatal.stage,
            error: fatal.error,
            item: fatal.item,
            returned: fatal.returned,
            halted,
            report,
        });
    }
    if !halted.is_empty() {
        return Err(RunError::Halted { failures: halted, report });
    }
    Ok(*report)
}
