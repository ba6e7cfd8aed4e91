//! What a run returns: per-stage counts, timings and the conservation check.

use std::fmt;
use std::sync::atomic::Ordering::Acquire;
use std::time::Duration;

use crate::class::ErrorClass;
use crate::metrics::{StageKind, StageRef};

/// The counts of one stage, in source items.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..10).filter("small", |x| *x < 4).sink(sink::drain()).run().await?;
/// let small = report.stage("small").unwrap();
/// assert_eq!((small.received, small.emitted, small.filtered, small.in_flight), (10, 4, 6, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name.
    pub name: String,
    /// The stage's kind.
    pub kind: StageKind,
    /// Items taken in from upstream (for the source: items it produced).
    pub received: u64,
    /// Items passed downstream.
    pub emitted: u64,
    /// Items dropped on purpose by a filter.
    pub filtered: u64,
    /// Items that failed here (whatever happened to them next).
    pub failed: u64,
    /// Items that needed at least one retry here.
    pub retried: u64,
    /// Retries made here (attempts after the first).
    pub retries: u64,
    /// Items that needed more than one attempt here (whichever layer asked
    /// for the attempts), by the attempts they took: index 0 holds items
    /// that took 2 attempts, index 1 those that took 3, and the last index
    /// those that took [`ATTEMPT_BUCKETS`](crate::ATTEMPT_BUCKETS) + 1 or
    /// more.
    pub attempts: [u64; crate::ATTEMPT_BUCKETS],
    /// Failures that were panics.
    pub panicked: u64,
    /// Failures of this stage stored by a dead-letter sink, by class
    /// (transient, permanent, poison).
    pub dead_lettered_by_class: [u64; 3],
    /// Retries of storing this stage's failures: each time a dead-letter
    /// sink failed to store a batch and it was tried again, one per source
    /// item of this stage in the batch. Not counted in `retries` (those are
    /// the stage's own attempts at its items).
    pub store_retries: u64,
    /// Failures of this stage explicitly discarded.
    pub discarded: u64,
    /// Items returned to the caller inside a [`RunError`](crate::RunError)
    /// (halted failures, sink errors, dead letters that could not be stored).
    pub returned: u64,
    /// Items the sink wrote and flushed (sink only).
    pub delivered: u64,
    /// Items inside this stage: in a live report, those it holds now; at
    /// the end of a run, those abandoned by a forced abort (after a normal
    /// end this must be zero).
    pub in_flight: u64,
    /// Readings of the stage's layers when the report was taken, by name
    /// (see [`StageMetrics::gauge`](crate::StageMetrics::gauge)): a
    /// circuit breaker's state, a rate limiter's waits, a concurrency
    /// limit. Empty for a stage without such layers.
    pub gauges: Vec<(String, u64)>,
    /// How the stage spent its time, and its latencies, since someone
    /// started watching the run ([`Monitor::watch`](crate::Monitor::watch));
    /// all zero when nobody did.
    pub timing: crate::StageTiming,
}

impl StageReport {
    /// Reads one stage's counters; what it received is filled in by
    /// [`Report::snapshot`], from the stage before it.
    fn read(stage: &StageRef) -> Self {
        let m = stage.metrics();
        let emitted = m.emitted.load();
        Self {
            name: stage.name().to_owned(),
            kind: stage.kind(),
            received: emitted,
            emitted,
            filtered: m.filtered.load(Acquire),
            failed: m.failed.load(Acquire),
            retried: m.retried.load(Acquire),
            retries: m.retries.load(Acquire),
            attempts: m.attempts.each_ref().map(|a| a.load(Acquire)),
            panicked: m.panicked.load(Acquire),
            dead_lettered_by_class: m.dead_lettered_by_class(),
            store_retries: m.store_retries.load(Acquire),
            discarded: m.discarded.load(Acquire),
            returned: m.returned.load(Acquire),
            delivered: m.delivered.load(Acquire),
            in_flight: 0,
            gauges: m.gauges.read(),
            timing: m.timing.read(),
        }
    }

    /// The reading of the gauge `name` when the report was taken, if the
    /// stage has one by that name.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), RunError> {
    /// let report = Pipeline::from_iter(0..10).batch("batch", 4, Duration::from_secs(1)).sink(sink::drain()).run().await?;
    /// assert_eq!(report.stage("batch").unwrap().gauge("no such gauge"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn gauge(&self, name: &str) -> Option<u64> {
        self.gauges.iter().find(|(n, _)| n == name).map(|&(_, value)| value)
    }

    /// The stage with what it `received`, and so what it holds.
    fn received(mut self, received: u64) -> Self {
        self.received = received;
        let ended = self.emitted
            + self.filtered
            + self.dead_lettered()
            + self.discarded
            + self.returned
            + self.delivered;
        self.in_flight = received.saturating_sub(ended);
        self
    }

    /// Failures of this stage stored by a dead-letter sink, all classes.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered_by_class.iter().sum()
    }

    /// Failures of this stage stored by a dead-letter sink, of one class.
    pub fn dead_lettered_of(&self, class: ErrorClass) -> u64 {
        match class {
            ErrorClass::Transient => self.dead_lettered_by_class[0],
            ErrorClass::Permanent => self.dead_lettered_by_class[1],
            ErrorClass::Poison => self.dead_lettered_by_class[2],
        }
    }
}

/// How a run ended.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..3).sink(sink::drain()).run().await?;
/// assert_eq!(report.ending(), Ending::Completed);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// The source ended and every item reached its outcome.
    Completed,
    /// `shutdown()` (or the `run_until` signal) stopped the source, and
    /// every item in flight was drained.
    Drained,
    /// The run stopped intake because of an error and drained what it could.
    Halted,
    /// The drain deadline passed: remaining work was aborted, its items are
    /// counted as abandoned and were not acknowledged.
    Aborted,
    /// A snapshot taken while the pipeline runs.
    Running,
}

/// The report of a run: per-stage counts, wall time, rate, and the
/// conservation check `in = delivered + dead-lettered + filtered +
/// discarded + returned + abandoned`.
///
/// # Examples
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let report = Pipeline::from_iter(0..10)
///     .filter("even", |x| x % 2 == 0)
///     .sink(sink::drain())
///     .run()
///     .await?;
/// assert_eq!(report.source_items(), 10);
/// assert_eq!(report.delivered(), 5);
/// assert_eq!(report.filtered(), 5);
/// assert!(report.is_conserved());
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    stages: Vec<StageReport>,
    wall: Duration,
    ending: Ending,
}

impl Report {
    pub(crate) fn snapshot(stages: &[StageRef], wall: Duration, ending: Ending) -> Self {
        // What a stage received is what the stage before it emitted (one
        // stream, counted once). Each stage is read whole, the last one
        // first: an item that moves on while the snapshot is taken is read
        // where it was, or where it went, never in both places, so the
        // counts add up at any moment (an item that ends in a stage after
        // that stage was read shows as in flight there). The counters are
        // published with release stores and read with acquire loads, so
        // that reading an item's later count makes its earlier one
        // visible, whichever threads counted them.
        if ending != Ending::Running {
            // What a stage was doing when the run ended stops counting.
            stages.iter().for_each(|stage| stage.metrics().timing.close());
        }
        let mut reports: Vec<StageReport> = stages.iter().rev().map(StageReport::read).collect();
        reports.reverse();
        let mut upstream = None;
        let reports = reports
            .into_iter()
            .map(|stage| {
                let received = upstream.unwrap_or(stage.emitted);
                upstream = Some(stage.emitted);
                stage.received(received)
            })
            .collect();
        Self { stages: reports, wall, ending }
    }

    /// Per-stage counts, source first, sink last.
    pub fn stages(&self) -> &[StageReport] {
        &self.stages
    }

    /// The counts of the stage named `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// How the run ended.
    pub fn ending(&self) -> Ending {
        self.ending
    }

    /// Wall time of the run.
    pub fn wall_time(&self) -> Duration {
        self.wall
    }

    fn sum(&self, f: impl Fn(&StageReport) -> u64) -> u64 {
        self.stages.iter().map(f).sum()
    }

    /// Items the source produced.
    pub fn source_items(&self) -> u64 {
        self.sum(|s| if s.kind == StageKind::Source { s.emitted } else { 0 })
    }

    /// Items the sink wrote and flushed.
    pub fn delivered(&self) -> u64 {
        self.sum(|s| s.delivered)
    }

    /// Items stored by a dead-letter sink.
    pub fn dead_lettered(&self) -> u64 {
        self.sum(StageReport::dead_lettered)
    }

    /// Items stored by a dead-letter sink, of one class.
    pub fn dead_lettered_of(&self, class: ErrorClass) -> u64 {
        self.sum(|s| s.dead_lettered_of(class))
    }

    /// Items dropped by filters.
    pub fn filtered(&self) -> u64 {
        self.sum(|s| s.filtered)
    }

    /// Failures explicitly discarded.
    pub fn discarded(&self) -> u64 {
        self.sum(|s| s.discarded)
    }

    /// Items returned to the caller inside the run's error.
    pub fn returned(&self) -> u64 {
        self.sum(|s| s.returned)
    }

    /// Items that failed in any stage (whatever happened to them next).
    pub fn failed(&self) -> u64 {
        self.sum(|s| s.failed)
    }

    /// Retries made in all stages.
    pub fn retries(&self) -> u64 {
        self.sum(|s| s.retries)
    }

    /// Retries of storing failures in dead-letter sinks, in all stages
    /// (see [`StageReport::store_retries`]).
    pub fn store_retries(&self) -> u64 {
        self.sum(|s| s.store_retries)
    }

    /// Items abandoned by a forced abort (zero unless the run was aborted).
    pub fn abandoned(&self) -> u64 {
        if self.ending == Ending::Aborted { self.sum(|s| s.in_flight) } else { 0 }
    }

    /// Items in flight (a snapshot of a running pipeline) or, after a
    /// normal end, items lost by a faulty stage (always zero for weir's own).
    pub fn in_flight(&self) -> u64 {
        self.sum(|s| s.in_flight)
    }

    /// Source items per second of wall time.
    pub fn items_per_sec(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 { self.source_items() as f64 / secs } else { 0.0 }
    }

    /// Whether every source item is accounted for: `in = delivered +
    /// dead-lettered + filtered + discarded + returned + abandoned`, and,
    /// while the run goes on, `+ in flight`. Always true for weir's own
    /// stages, at the end and at any moment of a run; a custom stage that
    /// drops items without counting them makes it false.
    pub fn is_conserved(&self) -> bool {
        let ended = self.delivered()
            + self.dead_lettered()
            + self.filtered()
            + self.discarded()
            + self.returned()
            + self.abandoned();
        match self.ending {
            Ending::Running => ended + self.in_flight() == self.source_items(),
            Ending::Aborted => ended == self.source_items(),
            _ => ended == self.source_items() && self.in_flight() == 0,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>10} {:>10} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>10}",
            "stage",
            "in",
            "out",
            "filtered",
            "failed",
            "retried",
            "dead",
            "discarded",
            "abandoned",
            "delivered"
        )?;
        for s in &self.stages {
            let abandoned = if self.ending == Ending::Aborted { s.in_flight } else { 0 };
            writeln!(
                f,
                "{:<16} {:>10} {:>10} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>10}",
                s.name,
                s.received,
                s.emitted,
                s.filtered,
                s.failed,
                s.retried,
                s.dead_lettered(),
                s.discarded,
                abandoned,
                s.delivered
            )?;
        }
        for s in self.stages.iter().filter(|s| s.retried > 0) {
            let buckets: Vec<String> = s
                .attempts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| {
                    let plus = if i + 1 == s.attempts.len() { "+" } else { "" };
                    format!("{} attempts{plus}: {n}", i + 2)
                })
                .collect();
            writeln!(f, "{}: {} retries; items by attempts: {}", s.name, s.retries, buckets.join(", "))?;
        }
        for s in self.stages.iter().filter(|s| s.store_retries > 0) {
            writeln!(f, "{}: {} retries storing its failures", s.name, s.store_retries)?;
        }
        for s in self.stages.iter().filter(|s| !s.gauges.is_empty()) {
            let gauges: Vec<String> =
                s.gauges.iter().map(|(name, value)| format!("{name} {value}")).collect();
            writeln!(f, "{}: {}", s.name, gauges.join(", "))?;
        }
        writeln!(f, "{:?} in {:.3?} ({:.0} items/s)", self.ending, self.wall, self.items_per_sec())?;
        let verdict = if self.is_conserved() { "conserved" } else { "NOT CONSERVED: items were lost" };
        write!(
            f,
            "in {} = delivered {} + dead-lettered {} + filtered {} + discarded {} + returned {} + abandoned {}",
            self.source_items(),
            self.delivered(),
            self.dead_lettered(),
            self.filtered(),
            self.discarded(),
            self.returned(),
            self.abandoned()
        )?;
        if self.ending == Ending::Running {
            write!(f, " + in flight {}", self.in_flight())?;
        }
        write!(f, ": {verdict}")
    }
}

/// Model checking (loom, `--cfg weir_loom`; TESTING.md): a snapshot taken
/// while other threads count never counts an item twice nor loses one,
/// in every interleaving of the counting threads and the snapshot.
#[cfg(all(test, weir_loom))]
mod loom_snapshot {
    use loom::sync::mpsc::channel;
    use loom::thread;

    use super::*;
    use crate::metrics::{StageKind, StageRef};

    #[test]
    fn a_snapshot_counts_each_item_once_in_every_interleaving() {
        loom::model(|| {
            let source = StageRef::new("source", StageKind::Source);
            let stage = StageRef::new("check", StageKind::Transform);
            let sink = StageRef::new("sink", StageKind::Sink);
            let stages = vec![source.clone(), stage.clone(), sink.clone()];
            let (tx, rx) = channel();
            // The stage's thread: two items in; the first is filtered, the
            // second goes on to the sink's thread, which delivers it.
            let upstream = thread::spawn(move || {
                let mut from_source = source.metrics().emitted.shard();
                let mut from_stage = stage.metrics().emitted.shard();
                from_source.add(2);
                stage.metrics().record_filtered(1);
                from_stage.add(1);
                tx.send(()).unwrap();
            });
            let downstream = thread::spawn(move || {
                rx.recv().unwrap();
                sink.metrics().record_delivered(1);
            });
            let report = Report::snapshot(&stages, Duration::ZERO, Ending::Running);
            let accounted = report.delivered() + report.filtered() + report.in_flight();
            assert_eq!(accounted, report.source_items(), "{report}");
            upstream.join().unwrap();
            downstream.join().unwrap();
            let report = Report::snapshot(&stages, Duration::ZERO, Ending::Completed);
            assert!(report.is_conserved(), "{report}");
            assert_eq!((report.delivered(), report.filtered()), (1, 1));
        });
    }
}
