//! The sampler: reads a running pipeline's monitor once an interval into
//! a [`History`].

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use weir_core::{Monitor, Report};

use crate::error::InvalidSampler;
use crate::history::History;
use crate::sample::Sample;

/// Samples a running pipeline: once an interval (a second unless told)
/// it reads the pipeline's live report and records, per stage, its
/// counts, rates, queue, concurrency, breaker state, busy, idle and
/// backpressured time and latency percentiles into a [`History`] of the
/// last `keep` samples (five minutes unless told).
///
/// Starting it turns on the pipeline's stage timing
/// ([`Monitor::watch`]); its cost is measured in BENCHMARKS.md.
///
/// ```
/// use std::time::Duration;
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_view::Sampler;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(Duration::from_millis(100)));
/// let handle = Pipeline::new(ticks).sink(sink::drain()).spawn()?;
/// let sampling = Sampler::new().every(Duration::from_secs(1)).keep(60).start(handle.monitor())?;
/// tokio::time::sleep(Duration::from_millis(3500)).await;
/// let history = sampling.history();
/// assert_eq!(history.snapshot().samples.len(), 3);
/// let report = handle.shutdown().await?;
/// sampling.finish(&report);
/// assert_eq!(history.latest().unwrap().conservation.delivered, report.delivered());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Sampler {
    every: Duration,
    keep: usize,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    /// Once a second, the last 300 samples (five minutes).
    ///
    /// # Examples
    ///
    /// See [`Sampler`].
    pub fn new() -> Self {
        Self { every: Duration::from_secs(1), keep: 300 }
    }

    /// How often it samples.
    ///
    /// # Examples
    ///
    /// See [`Sampler`].
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// How many samples it keeps.
    ///
    /// # Examples
    ///
    /// See [`Sampler`].
    pub fn keep(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }

    /// Starts sampling the pipeline `monitor` watches, on a task of its
    /// own that stops when the returned [`Sampling`] is finished or
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`InvalidSampler`] for a zero interval or nothing to keep.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// # Examples
    ///
    /// See [`Sampler`].
    pub fn start(self, monitor: Monitor) -> Result<Sampling, InvalidSampler> {
        if self.every.is_zero() {
            return Err(InvalidSampler::ZeroInterval);
        }
        if self.keep == 0 {
            return Err(InvalidSampler::NothingKept);
        }
        monitor.watch();
        let history = History::new(self.keep);
        let last = Last::default();
        let task = tokio::spawn(sample(monitor, self.every, history.clone(), last.clone()));
        Ok(Sampling { history, last, task: AbortOnDropHandle::new(task) })
    }
}

/// The report the last sample was taken from, and when.
type Last = std::sync::Arc<std::sync::Mutex<Option<(Report, Instant)>>>;

async fn sample(monitor: Monitor, every: Duration, history: History, last: Last) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let report = monitor.report();
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        history.push(Sample::between(last.as_ref().map(|(r, _)| r), &report));
        *last = Some((report, Instant::now()));
    }
}

/// A running sampler; see [`Sampler`]. Dropping it stops the sampling.
#[derive(Debug)]
pub struct Sampling {
    history: History,
    last: Last,
    task: AbortOnDropHandle<()>,
}

impl Sampling {
    /// The history it fills (shared: it goes on filling).
    ///
    /// # Examples
    ///
    /// See [`Sampling`].
    pub fn history(&self) -> History {
        self.history.clone()
    }

    /// Stops sampling and records a last sample from the run's final
    /// `report`, with how the run ended; returns the history.
    ///
    /// # Examples
    ///
    /// See [`Sampling`].
    pub fn finish(self, report: &Report) -> History {
        self.task.abort();
        // Held across the last push and the end, so that a sample being
        // taken right now lands before the last one or not at all.
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // The final report's clock starts a little before the live ones:
        // the last interval is measured here, from the last sample on.
        let sample = match last.as_ref() {
            Some((earlier, taken)) => {
                let interval = taken.elapsed().as_secs_f64().max(1e-3);
                Sample::over(Some(earlier), report, earlier.wall_time().as_secs_f64() + interval, interval)
            }
            None => Sample::between(None, report),
        };
        self.history.push(sample);
        self.history.end(format!("{:?}", report.ending()));
        drop(last);
        self.history
    }
}
