//! The handle of a pipeline running in the background.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use super::{Assembled, execute};
use crate::control::RunShared;
use crate::error::RunError;
use crate::metrics::StageRef;
use crate::report::{Ending, Report};

/// A pipeline running on its own task; see
/// [`Runnable::spawn`](super::Runnable::spawn).
///
/// Dropping the handle aborts the pipeline and every task it spawned.
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
/// let handle = Pipeline::new(ticks).sink(sink::drain()).spawn()?;
/// tokio::time::sleep(Duration::from_millis(2500)).await;
/// assert_eq!(handle.report().delivered(), 3); // live metrics
/// let report = handle.shutdown().await?;
/// assert_eq!(report.delivered(), 3);
/// assert!(report.is_conserved());
/// # Ok(())
/// # }
/// ```
pub struct PipelineHandle {
    task: AbortOnDropHandle<Result<Report, RunError>>,
    shutdown: CancellationToken,
    abort: CancellationToken,
    stages: Vec<StageRef>,
    shared: Arc<RunShared>,
    started: tokio::time::Instant,
}

impl PipelineHandle {
    pub(crate) fn spawn(assembled: Assembled) -> Self {
        let shutdown = CancellationToken::new();
        let abort = CancellationToken::new();
        let stages = assembled.stages.clone();
        let shared = assembled.shared.clone();
        let signal = shutdown.clone().cancelled_owned();
        let run = execute(assembled, signal, abort.clone()).instrument(tracing::info_span!("weir.run"));
        let task = AbortOnDropHandle::new(tokio::spawn(run));
        Self { task, shutdown, abort, stages, shared, started: tokio::time::Instant::now() }
    }

    /// A snapshot of the live per-stage counts.
    pub fn report(&self) -> Report {
        self.monitor().report()
    }

    /// A cheap, cloneable view of the live counts that outlives the
    /// handle: for a progress bar or a metrics endpoint that keeps
    /// reading while `shutdown()` (which takes the handle) drains.
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
    /// let handle = Pipeline::new(ticks).sink(sink::drain()).spawn()?;
    /// let monitor = handle.monitor();
    /// tokio::time::sleep(Duration::from_millis(1500)).await;
    /// let report = handle.shutdown().await?;
    /// assert_eq!(monitor.report().delivered(), report.delivered()); // still readable
    /// # Ok(())
    /// # }
    /// ```
    pub fn monitor(&self) -> Monitor {
        Monitor { stages: self.stages.clone(), started: self.started }
    }

    /// The run's stages, in pipeline order.
    pub(crate) fn stages(&self) -> &[StageRef] {
        &self.stages
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The run's two signals, cloneable, for code that must end the run
    /// while another part of the program awaits [`join`](Self::join): a
    /// first Ctrl-C starts the drain, a second one aborts it.
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
    /// let slow = |x: u64| async move {
    ///     tokio::time::sleep(Duration::from_secs(10)).await;
    ///     x
    /// };
    /// let handle = Pipeline::from_iter(0u64..).then("slow", slow).sink(sink::drain()).spawn()?;
    /// let signals = handle.signals();
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_secs(1)).await;
    ///     signals.shutdown(); // first Ctrl-C: drain
    ///     tokio::time::sleep(Duration::from_secs(1)).await;
    ///     signals.abort(); // second Ctrl-C: abort at once
    /// });
    /// let report = handle.join().await?;
    /// assert_eq!((report.ending(), report.abandoned()), (Ending::Aborted, 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn signals(&self) -> Signals {
        Signals { shutdown: self.shutdown.clone(), abort: self.abort.clone(), shared: self.shared.clone() }
    }

    /// Stops intake, drains every in-flight item through all stages and
    /// the sink, and returns the report; past the drain timeout the rest is
    /// aborted and counted as abandoned.
    ///
    /// # Errors
    ///
    /// As for [`Runnable::run`](super::Runnable::run).
    pub async fn shutdown(self) -> Result<Report, RunError> {
        self.shutdown.cancel();
        self.join().await
    }

    /// Aborts at once: intake stops, every item in flight is abandoned
    /// (counted per stage, not acknowledged). Returns once every task of
    /// the pipeline has stopped, so the report is final: nothing is pulled
    /// from the source, stored or acknowledged after it.
    ///
    /// # Errors
    ///
    /// As for [`Runnable::run`](super::Runnable::run).
    pub async fn abort(self) -> Result<Report, RunError> {
        self.signals().abort();
        self.join().await
    }

    /// Waits for the run to end by itself.
    ///
    /// # Errors
    ///
    /// As for [`Runnable::run`](super::Runnable::run).
    pub async fn join(mut self) -> Result<Report, RunError> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(RunError::Panicked {
                message: join.to_string(),
                report: Box::new(Report::snapshot(&self.stages, self.started.elapsed(), Ending::Aborted)),
            }),
        }
    }
}

/// Ends a running pipeline from anywhere; see [`PipelineHandle::signals`].
#[derive(Debug, Clone)]
pub struct Signals {
    shutdown: CancellationToken,
    abort: CancellationToken,
    shared: Arc<RunShared>,
}

impl Signals {
    /// Starts a graceful shutdown: intake stops, in-flight items drain
    /// (up to the drain timeout). Returns at once.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Aborts the run: intake stops at once and the items in flight are
    /// abandoned (counted, not acknowledged). Returns at once; the run's
    /// report comes from [`PipelineHandle::join`].
    pub fn abort(&self) {
        // Intake stops at once, before the run's task is woken to abort.
        self.shared.stop.cancel();
        self.abort.cancel();
    }
}

/// The live counts of a running pipeline; see
/// [`PipelineHandle::monitor`].
#[derive(Debug, Clone)]
pub struct Monitor {
    stages: Vec<StageRef>,
    started: tokio::time::Instant,
}

impl Monitor {
    /// A snapshot of the live per-stage counts (its ending says
    /// `Running`, even after the run ended: the run's own report says how
    /// it ended).
    pub fn report(&self) -> Report {
        Report::snapshot(&self.stages, self.started.elapsed(), Ending::Running)
    }

    /// Starts timing every stage: from now on, reports show how each
    /// stage spends its time (busy, idle, backpressured) and the latency
    /// of the items it hands on ([`StageReport::timing`](crate::StageReport::timing)).
    /// A sampler or a view calls this; it costs a few clock reads per
    /// chunk, and nothing before it is called. Calling it again does
    /// nothing more.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let slow = sink::from_fn(|_: u64| async {
    ///     tokio::time::sleep(Duration::from_millis(2)).await;
    ///     Ok::<_, std::io::Error>(())
    /// });
    /// let handle = Pipeline::from_iter(0..50).sink(slow).spawn()?;
    /// handle.monitor().watch();
    /// let report = handle.join().await?;
    /// let sink = report.stages().last().unwrap();
    /// assert!(sink.timing.busy >= Duration::from_millis(50)); // the sleeps
    /// assert!(sink.timing.latency.count() > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn watch(&self) {
        for stage in &self.stages {
            stage.metrics().timing.watch();
        }
    }
}

impl fmt::Debug for PipelineHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineHandle").field("finished", &self.is_finished()).finish_non_exhaustive()
    }
}
