//! What a sampler records: one [`Sample`] per interval, with a
//! [`StageSample`] per stage, computed from two consecutive reports.

use serde::{Deserialize, Serialize};
use weir_core::{Ending, Report, StageKind, StageReport};
use weir_flow::BreakerState;

/// The state of the pipeline over one sampling interval.
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_view::Sample;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..10).map("double", |x| x * 2).sink(sink::drain()).run().await?;
/// let sample = Sample::between(None, &report);
/// assert_eq!(sample.stages.len(), 3);
/// assert_eq!(sample.conservation.source_items, 10);
/// assert!(sample.conservation.holds());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sample {
    /// Seconds since the run started.
    pub at: f64,
    /// The interval it covers, in seconds (since the run started, for
    /// the first sample).
    pub interval: f64,
    /// The stages, in pipeline order.
    pub stages: Vec<StageSample>,
    /// Where every source item is at the end of the interval.
    pub conservation: Conservation,
}

/// One stage over one interval: its counts (cumulative since the run
/// started), its rates and the readings of its queue and layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageSample {
    /// The stage's name.
    pub name: String,
    /// `source`, `transform` or `sink`.
    pub kind: String,
    /// Items taken in, since the run started.
    pub received: u64,
    /// Items handed on (for a sink: delivered), since the run started.
    pub emitted: u64,
    /// Items taken in per second over the interval.
    pub in_per_sec: f64,
    /// Items handed on (a sink: delivered) per second over the interval.
    pub out_per_sec: f64,
    /// Items that failed here, since the run started.
    pub failed: u64,
    /// This stage's failures stored as dead letters, by class:
    /// transient, permanent, poison.
    pub dead_lettered: [u64; 3],
    /// Retries made here, since the run started.
    pub retries: u64,
    /// Items waiting for a retry now (a fan-out stage).
    pub retries_parked: Option<u64>,
    /// Items inside the stage now.
    pub in_flight: u64,
    /// Operations running now under the stage's concurrency [`limit`](Self::limit)
    /// (an adaptive limit's gauge; else, for a fan-out, its items inside).
    pub running: Option<u64>,
    /// The stage's concurrency: its adaptive limit, or its workers.
    pub limit: Option<u64>,
    /// Items in the stage's queue now (a buffer or a fan-out: what it
    /// holds), and the queue's capacity.
    pub queue: Option<(u64, u64)>,
    /// The circuit breaker's state: `closed`, `half-open` or `open`.
    pub breaker: Option<String>,
    /// Fraction of the interval (0 to 1) the stage was working; for
    /// several workers, the average of theirs.
    pub busy: f64,
    /// Fraction of the interval its output waited for the next stage.
    pub backpressured: f64,
    /// Fraction of the interval it waited for its input.
    pub idle: f64,
    /// Median latency from the source to this stage's output over the
    /// interval, in milliseconds (none when no marked item passed).
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub p99_ms: Option<f64>,
}

/// The conservation line: every item the source produced is delivered,
/// dead-lettered, filtered, discarded, returned in an error, abandoned by
/// an abort or, while the run goes on, still in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conservation {
    /// Items the source produced.
    pub source_items: u64,
    /// Items the sink wrote and flushed.
    pub delivered: u64,
    /// Items stored as dead letters.
    pub dead_lettered: u64,
    /// Items filtered out on purpose.
    pub filtered: u64,
    /// Failures discarded on purpose.
    pub discarded: u64,
    /// Items returned to the caller in an error.
    pub returned: u64,
    /// Items left inside the pipeline by an abort.
    pub abandoned: u64,
    /// Items inside the pipeline (while it runs; after a normal end,
    /// items a faulty stage lost).
    pub in_flight: u64,
    /// Whether the run was still going when this was read.
    pub running: bool,
    /// The report's own verdict ([`Report::is_conserved`]).
    pub conserved: bool,
}

impl Conservation {
    /// Reads it off a report.
    ///
    /// # Examples
    ///
    /// See [`Conservation`].
    pub fn of(report: &Report) -> Self {
        Self {
            source_items: report.source_items(),
            delivered: report.delivered(),
            dead_lettered: report.dead_lettered(),
            filtered: report.filtered(),
            discarded: report.discarded(),
            returned: report.returned(),
            abandoned: report.abandoned(),
            in_flight: report.in_flight(),
            running: report.ending() == Ending::Running,
            conserved: report.is_conserved(),
        }
    }

    /// Whether every source item is accounted for.
    ///
    /// # Examples
    ///
    /// See [`Conservation`].
    pub fn holds(&self) -> bool {
        self.conserved
    }
}

impl std::fmt::Display for Conservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "source {} = delivered {} + dead-lettered {} + filtered {} + discarded {} + returned {}",
            self.source_items,
            self.delivered,
            self.dead_lettered,
            self.filtered,
            self.discarded,
            self.returned,
        )?;
        if self.running {
            write!(f, " + in flight {}", self.in_flight)?;
        } else {
            write!(f, " + abandoned {}", self.abandoned)?;
        }
        if self.holds() { write!(f, " ✓") } else { write!(f, " ✗ (items unaccounted for)") }
    }
}

impl Sample {
    /// The sample of the interval from `earlier` (the report the last
    /// sample was taken from; `None` for the first) to `now`.
    pub fn between(earlier: Option<&Report>, now: &Report) -> Self {
        let at = now.wall_time().as_secs_f64();
        let interval = earlier.map_or(at, |e| at - e.wall_time().as_secs_f64()).max(1e-9);
        Self::over(earlier, now, at, interval)
    }

    /// [`between`](Self::between), at `at` s since the run started, over
    /// `interval` s (measured by the caller).
    pub(crate) fn over(earlier: Option<&Report>, now: &Report, at: f64, interval: f64) -> Self {
        let stages = now
            .stages()
            .iter()
            .map(|stage| {
                let before = earlier.and_then(|e| e.stages().iter().find(|s| s.name == stage.name));
                StageSample::between(before, stage, interval)
            })
            .collect();
        Self { at, interval, stages, conservation: Conservation::of(now) }
    }

    /// The stage called `name`.
    ///
    /// # Examples
    ///
    /// See [`Sample`].
    pub fn stage(&self, name: &str) -> Option<&StageSample> {
        self.stages.iter().find(|s| s.name == name)
    }
}

impl StageSample {
    fn between(before: Option<&StageReport>, now: &StageReport, interval: f64) -> Self {
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / interval;
        let out = |s: &StageReport| if s.kind == StageKind::Sink { s.delivered } else { s.emitted };
        let limit = now.gauge("concurrency_limit").or_else(|| now.gauge("workers"));
        // Busy time is the sum of every worker's (each times its jobs).
        let workers = now.gauge("workers").unwrap_or(1).max(1) as f64;
        let (timing, earlier) = (&now.timing, before.map(|b| &b.timing));
        let part = |now: std::time::Duration, before: Option<std::time::Duration>, workers: f64| {
            let spent = now.saturating_sub(before.unwrap_or_default()).as_secs_f64();
            (spent / interval / workers).clamp(0.0, 1.0)
        };
        let latency = match earlier {
            Some(earlier) => timing.latency.since(&earlier.latency),
            None => timing.latency.clone(),
        };
        let ms = |q: f64| latency.quantile(q).map(|d| d.as_secs_f64() * 1000.0);
        Self {
            name: now.name.clone(),
            kind: match now.kind {
                StageKind::Source => "source",
                StageKind::Sink => "sink",
                _ => "transform",
            }
            .to_owned(),
            received: now.received,
            emitted: out(now),
            in_per_sec: rate(now.received, before.map_or(0, |b| b.received)),
            out_per_sec: rate(out(now), before.map_or(0, out)),
            failed: now.failed,
            dead_lettered: now.dead_lettered_by_class,
            retries: now.retries,
            retries_parked: now.gauge("retries_parked"),
            in_flight: now.in_flight,
            running: now.gauge("concurrency_in_flight").or_else(|| limit.map(|_| now.in_flight)),
            limit,
            queue: now.gauge("queue_capacity").map(|capacity| (now.in_flight, capacity)),
            breaker: now
                .gauge("breaker_state")
                .and_then(BreakerState::from_code)
                .map(|state| state.to_string()),
            busy: part(timing.busy, earlier.map(|e| e.busy), workers),
            backpressured: part(timing.backpressured, earlier.map(|e| e.backpressured), 1.0),
            idle: part(timing.idle, earlier.map(|e| e.idle), 1.0),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
        }
    }

    /// Items that failed here and were stored as dead letters.
    ///
    /// # Examples
    ///
    /// See [`StageSample`].
    pub fn dead_letters(&self) -> u64 {
        self.dead_lettered.iter().sum()
    }
}
