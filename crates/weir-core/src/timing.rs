//! How a stage spends its time while someone watches it (a sampler, a
//! view): busy, idle and backpressured time, in Flink's sense, and the
//! latency of items from the source to the stage's output.
//!
//! Nothing here costs anything until [`Monitor::watch`](crate::Monitor::watch)
//! turns it on: an unwatched stage checks one flag per chunk. A watched
//! stage reads the CPU's time-stamp counter (through `quanta`) twice per
//! chunk it is asked for, and the source marks about one item per
//! millisecond with the time it entered, as Flink's latency markers do;
//! every stage records the age of the marked items it hands on.
//!
//! A stage's time falls into three parts:
//! - **busy**: running its own code (time spent polling its input is its
//!   input's), or waiting on work of its own (a timer, a database call);
//! - **idle**: asked for items and waiting for its input (for a source or
//!   a queue: nothing has arrived);
//! - **backpressured**: holding items it produced that the next stage has
//!   not asked for, because that stage is busy (or, for a stage feeding a
//!   queue, waiting for room in it).

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, fence};
use std::time::{Duration, Instant};

/// The clock that times stages: the time-stamp counter where it is
/// reliable, else the OS's monotonic clock.
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw reading of the stage clock.
#[inline]
pub(crate) fn ticks() -> u64 {
    clock().raw()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_nanos(clock().delta_as_nanos(0, ticks))
}

/// Whether a millisecond has passed from `since` to `now` (ticks).
#[inline]
fn a_millisecond(since: u64, now: u64) -> bool {
    clock().delta_as_nanos(since, now) >= 1_000_000
}

/// Marked items alive in this process (in any watched pipeline): while
/// there are none, a stage has no marks to look for in what it hands on.
static MARKS_ALIVE: AtomicU64 = AtomicU64::new(0);

pub(crate) fn mark_made() {
    MARKS_ALIVE.fetch_add(1, Relaxed);
}

pub(crate) fn mark_gone() {
    MARKS_ALIVE.fetch_sub(1, Relaxed);
}

/// Whether any marked item is alive.
#[inline]
pub(crate) fn marks_alive() -> bool {
    MARKS_ALIVE.load(Relaxed) != 0
}

thread_local! {
    /// Ticks spent in stages polled inside the current poll: a stage's own
    /// time is its poll's time less its input's.
    static NESTED: Cell<u64> = const { Cell::new(0) };
    /// Whether the last counted stage that returned on this thread was
    /// pending: a stage that is pending after its input was pending is
    /// waiting for input, not working.
    static INPUT_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// What a stage is doing between two polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    /// Not watched yet, or ended: nothing is counted.
    #[default]
    Untimed,
    Busy,
    Idle,
    Backpressured,
}

/// The timing counters of one stage; see the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct Timing {
    watched: AtomicBool,
    /// Pending means "nothing has arrived" (a queue, a source): idle.
    waits_for_arrivals: AtomicBool,
    /// Busy time is recorded by the stage's workers, not by its polls.
    busy_from_workers: AtomicBool,
    busy: AtomicU64,
    idle: AtomicU64,
    backpressured: AtomicU64,
    /// The stretch going on now: its phase in the low 2 bits, the tick it
    /// began in the rest. A reading adds it, so that a stage stuck in one
    /// phase (a long chunk, a long wait) shows it before the stretch ends.
    open: AtomicU64,
    /// Odd while a stretch is being switched: a reading that sees it
    /// change reads again (a seqlock), so that a stretch that ends while
    /// it reads is counted once, in the counters or as the open one.
    switching: AtomicU64,
    latency: Buckets,
}

impl Phase {
    fn code(self) -> u64 {
        match self {
            Phase::Untimed => 0,
            Phase::Busy => 1,
            Phase::Idle => 2,
            Phase::Backpressured => 3,
        }
    }

    /// Where the phase's time is counted in `[busy, idle, backpressured]`.
    fn index(self) -> Option<usize> {
        (self.code() as usize).checked_sub(1)
    }

    fn of(code: u64) -> Self {
        match code & 3 {
            1 => Phase::Busy,
            2 => Phase::Idle,
            3 => Phase::Backpressured,
            _ => Phase::Untimed,
        }
    }
}

impl Timing {
    #[inline]
    pub(crate) fn is_watched(&self) -> bool {
        self.watched.load(Relaxed)
    }

    pub(crate) fn watch(&self) {
        let _ = clock();
        self.watched.store(true, Relaxed);
    }

    pub(crate) fn waits_for_arrivals(&self) {
        self.waits_for_arrivals.store(true, Relaxed);
    }

    pub(crate) fn busy_from_workers(&self) {
        self.busy_from_workers.store(true, Relaxed);
    }

    fn counters(&self) -> [&AtomicU64; 3] {
        [&self.busy, &self.idle, &self.backpressured]
    }

    /// Counts `ticks` of `phase` (from any thread: a fan-out's workers).
    #[inline]
    pub(crate) fn add(&self, phase: Phase, ticks: u64) {
        if let Some(index) = phase.index() {
            self.counters()[index].fetch_add(ticks, Relaxed);
        }
    }

    /// Counts `ticks` of `phase` from the one task that switches the
    /// stage's stretches: a plain load and store, except for busy time,
    /// which a fan-out's workers add beside it.
    #[inline]
    fn add_switched(&self, phase: Phase, ticks: u64) {
        match phase.index() {
            Some(0) => self.add(Phase::Busy, ticks),
            Some(index) => {
                let counter = self.counters()[index];
                counter.store(counter.load(Relaxed) + ticks, Relaxed);
            }
            None => {}
        }
    }

    /// Runs `write` as the seqlock's writer: a reading that overlaps it
    /// reads again.
    #[inline]
    fn written(&self, write: impl FnOnce()) {
        let seq = self.switching.load(Relaxed);
        self.switching.store(seq.wrapping_add(1), Relaxed);
        fence(Release);
        write();
        self.switching.store(seq.wrapping_add(2), Release);
    }

    /// Ends the open stretch, if any: the run is over.
    pub(crate) fn close(&self) {
        self.switch_now(Phase::Untimed);
    }

    /// While watched, ends the open stretch now and opens one of `phase`
    /// (none for [`Phase::Untimed`]).
    #[inline]
    pub(crate) fn switch_now(&self, phase: Phase) {
        if self.is_watched() {
            let now = ticks();
            self.switch_across(now, phase, now);
        }
    }

    /// Ends the open stretch at `close`, counting it, and opens one of
    /// `phase` at `open` (what lies between is counted by the caller: a
    /// poll).
    ///
    /// One task switches a stage's stretches (its counted stream's, or the
    /// sink's driver), so it writes with plain loads and stores.
    #[inline]
    pub(crate) fn switch_across(&self, close: u64, phase: Phase, open: u64) {
        self.written(|| {
            let was = self.open.load(Relaxed);
            self.open.store(open << 2 | phase.code(), Relaxed);
            self.add_switched(Phase::of(was), close.saturating_sub(was >> 2));
        });
    }

    /// Records the latency of an item that entered at `born`.
    pub(crate) fn record_latency(&self, born: Instant, now: Instant) {
        self.latency.record(now.saturating_duration_since(born));
    }

    /// Moves `ticks` of the open busy stretch to idle: its input's work,
    /// polled inside it (the sink driver taking the next ready chunk).
    #[inline]
    pub(crate) fn busy_to_idle(&self, ticks: u64) {
        let was = self.open.load(Relaxed);
        if ticks == 0 || Phase::of(was) != Phase::Busy {
            return;
        }
        self.written(|| {
            self.open.store((((was >> 2) + ticks) << 2) | Phase::Busy.code(), Relaxed);
            self.add_switched(Phase::Idle, ticks);
        });
    }

    /// The counters and the open stretch, as of one moment between
    /// switches (a few tries; a stage switching without pause is read as
    /// it is, off by at most one stretch for this reading).
    fn read_consistent(&self) -> ([u64; 3], u64) {
        let mut tries = 0;
        loop {
            let before = self.switching.load(Acquire);
            let counted = self.counters().map(|counter| counter.load(Relaxed));
            let open = self.open.load(Relaxed);
            fence(Acquire);
            let after = self.switching.load(Relaxed);
            tries += 1;
            if (before == after && before.is_multiple_of(2)) || tries == 64 {
                return (counted, open);
            }
            std::hint::spin_loop();
        }
    }

    pub(crate) fn read(&self) -> StageTiming {
        if !self.is_watched() {
            return StageTiming::default();
        }
        let (mut counted, open) = self.read_consistent();
        if let Some(index) = Phase::of(open).index() {
            counted[index] += ticks().saturating_sub(open >> 2);
        }
        let [busy, idle, backpressured] = counted.map(ticks_to_duration);
        StageTiming { busy, idle, backpressured, latency: self.latency.read() }
    }
}

/// Starts counting the time of the stages polled from here on this thread
/// (the sink driver, polling its input).
#[inline]
pub(crate) fn nested_start() {
    NESTED.set(0);
}

/// The time the stages polled since [`nested_start`] spent.
#[inline]
pub(crate) fn nested_taken() -> u64 {
    NESTED.replace(0)
}

/// A counted stage's timing state: what it is doing since when.
#[derive(Debug, Default)]
pub(crate) struct Clocked {
    last_mark: u64,
}

/// What a poll timed by [`Clocked::enter`] needs to close it.
pub(crate) struct Entered {
    start: u64,
    outer: u64,
}

impl Clocked {
    /// Starts timing a poll. (The stretch before it is closed when the
    /// poll ends, in one switch: a reading taken during a poll counts the
    /// poll so far in the stretch before it, until the poll ends.)
    #[inline]
    pub(crate) fn enter(&mut self) -> Entered {
        let start = ticks();
        let outer = NESTED.replace(0);
        INPUT_PENDING.set(false);
        Entered { start, outer }
    }

    /// Ends a poll that returned `ready` (`Some(ended)`) or was pending;
    /// `source` for the source stage. Returns whether the source should
    /// mark an item now.
    #[inline]
    pub(crate) fn leave(
        &mut self,
        timing: &Timing,
        entered: Entered,
        ready: Option<bool>,
        source: bool,
    ) -> bool {
        let end = ticks();
        let spent = end.saturating_sub(entered.start);
        let own = spent.saturating_sub(NESTED.get());
        NESTED.set(entered.outer + spent);
        let from_workers = timing.busy_from_workers.load(Relaxed);
        if !from_workers {
            timing.add(Phase::Busy, own);
        }
        let input_pending = INPUT_PENDING.replace(ready.is_none());
        let phase = match ready {
            Some(false) => Phase::Untimed,
            Some(true) => Phase::Backpressured,
            None if from_workers => Phase::Untimed,
            None if source || input_pending || timing.waits_for_arrivals.load(Relaxed) => Phase::Idle,
            None => Phase::Busy,
        };
        timing.switch_across(entered.start, phase, end);
        let mark = source && ready == Some(true) && a_millisecond(self.last_mark, end);
        if mark {
            self.last_mark = end;
        }
        mark
    }
}

/// Times the jobs of one worker of a stage (a fan-out's worker): while
/// the stage is watched, each [`job`](Self::job)'s time counts as the
/// stage's busy time. The worker keeps its clock and publishes what it
/// timed once a millisecond of it has gathered, and when the clock is
/// dropped, so that workers do not contend on the stage's counter for
/// every job. Made by [`StageMetrics::work_clock`](crate::StageMetrics::work_clock).
#[derive(Debug)]
pub struct WorkClock<'a> {
    timing: &'a Timing,
    /// Ticks timed and not yet published.
    pending: u64,
    /// When the clock last published.
    published: u64,
}

/// One job of a [`WorkClock`]: busy until dropped.
#[derive(Debug)]
pub struct Job<'c, 'a> {
    clock: &'c mut WorkClock<'a>,
    start: u64,
}

impl<'a> WorkClock<'a> {
    pub(crate) fn new(timing: &'a Timing) -> Self {
        Self { timing, pending: 0, published: 0 }
    }

    /// Starts timing a job, until the returned guard is dropped; `None`,
    /// at the cost of one load, while nobody watches the stage.
    ///
    /// # Examples
    ///
    /// See [`WorkClock`](crate::StageMetrics::work_clock).
    #[inline]
    pub fn job(&mut self) -> Option<Job<'_, 'a>> {
        self.timing.is_watched().then(|| Job { start: ticks(), clock: self })
    }

    fn publish(&mut self) {
        self.timing.add(Phase::Busy, std::mem::take(&mut self.pending));
    }
}

impl Drop for Job<'_, '_> {
    fn drop(&mut self) {
        let now = ticks();
        let clock = &mut *self.clock;
        clock.pending += now.saturating_sub(self.start);
        if a_millisecond(clock.published, now) {
            clock.published = now;
            clock.publish();
        }
    }
}

impl Drop for WorkClock<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}

/// How a stage spent its time while watched, and the latencies of the
/// items it handed on; all cumulative since
/// [`Monitor::watch`](crate::Monitor::watch). Two readings' difference is what happened
/// between them. All zero for a stage nobody watched.
///
/// A stage of several workers (a fan-out) counts the busy time of each:
/// divide by its workers for the fraction of the time they were busy.
///
/// ```
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let handle = Pipeline::from_iter(0..1000).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
/// handle.monitor().watch();
/// let report = handle.join().await?;
/// let timing = &report.stage("double").unwrap().timing;
/// assert!(timing.busy + timing.idle + timing.backpressured <= report.wall_time());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageTiming {
    /// Time the stage was working (for several workers, the sum of theirs).
    pub busy: Duration,
    /// Time the stage waited for its input.
    pub idle: Duration,
    /// Time the stage's output waited for the next stage.
    pub backpressured: Duration,
    /// The ages of marked items (about one per millisecond at the source)
    /// when they left this stage: for a sink, when they were flushed.
    pub latency: Latencies,
}

/// Sub-buckets per power of two: values are kept within 1/8 (12.5 %).
const SUB: u32 = 8;
/// Microsecond values below this are kept exactly.
const EXACT: u64 = 16;
/// Powers of two above `EXACT` kept: up to 2^40 µs, about 12 days.
const BUCKETS: usize = EXACT as usize + (40 - 4) * SUB as usize;

fn bucket_of(micros: u64) -> usize {
    if micros < EXACT {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros();
    let sub = (micros >> (exponent - 3)) & u64::from(SUB - 1);
    let index = EXACT as usize + (exponent as usize - 4) * SUB as usize + sub as usize;
    index.min(BUCKETS - 1)
}

/// The smallest microsecond value of a bucket.
fn floor_of(index: usize) -> u64 {
    if index < EXACT as usize {
        return index as u64;
    }
    let exponent = (index - EXACT as usize) / SUB as usize + 4;
    let sub = ((index - EXACT as usize) % SUB as usize) as u64;
    (u64::from(SUB) + sub) << (exponent - 3)
}

/// A latency histogram of atomic buckets: recorded from the stage's task,
/// read by whoever watches.
#[derive(Debug)]
struct Buckets(Box<[AtomicU64]>);

impl Default for Buckets {
    fn default() -> Self {
        Self((0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }
}

impl Buckets {
    fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0[bucket_of(micros)].fetch_add(1, Relaxed);
    }

    fn read(&self) -> Latencies {
        Latencies(self.0.iter().map(|b| b.load(Relaxed)).collect())
    }
}

/// Counts of latencies in buckets of 12.5 % (exact below 16 µs), from
/// which percentiles are read; see [`StageTiming::latency`].
///
/// ```
/// use weir_core::Latencies;
///
/// let none = Latencies::default();
/// assert_eq!(none.count(), 0);
/// assert_eq!(none.quantile(0.99), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    /// How many latencies were recorded.
    ///
    /// # Examples
    ///
    /// See [`Latencies`].
    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The latency below which a fraction `q` (0 to 1) of them fell,
    /// within 12.5 %; `None` when none was recorded.
    ///
    /// # Examples
    ///
    /// See [`Latencies`].
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        // The rank of the wanted value, 1-based, within 1..=count.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank within 1..=count"
        )]
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (index, &n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                // The bucket's middle: within half a bucket of the value.
                let (low, high) = (floor_of(index), floor_of(index + 1));
                return Some(Duration::from_micros(low + (high - low) / 2));
            }
        }
        None
    }

    /// What was recorded after `earlier` (an older reading of the same
    /// stage) was taken.
    ///
    /// # Examples
    ///
    /// See [`Latencies`].
    pub fn since(&self, earlier: &Latencies) -> Latencies {
        let at = |v: &Latencies, i: usize| v.0.get(i).copied().unwrap_or(0);
        let len = self.0.len().max(earlier.0.len());
        Latencies((0..len).map(|i| at(self, i).saturating_sub(at(earlier, i))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_values_within_an_eighth() {
        for micros in (0..5000).chain([65_535, 1 << 30, 123_456_789]) {
            let index = bucket_of(micros);
            assert!(floor_of(index) <= micros && micros < floor_of(index + 1), "{micros} in bucket {index}");
            assert!(floor_of(index + 1) - floor_of(index) <= (micros / 8).max(1));
        }
    }

    #[test]
    fn quantiles_come_from_the_counts() {
        let buckets = Buckets::default();
        for ms in 1..=100 {
            buckets.record(Duration::from_millis(ms));
        }
        let all = buckets.read();
        assert_eq!(all.count(), 100);
        let p50 = all.quantile(0.5).unwrap().as_secs_f64() * 1000.0;
        let p99 = all.quantile(0.99).unwrap().as_secs_f64() * 1000.0;
        assert!((50.0 * 0.93..=50.0 * 1.07).contains(&p50), "p50 {p50}");
        assert!((99.0 * 0.93..=99.0 * 1.07).contains(&p99), "p99 {p99}");
        buckets.record(Duration::from_secs(3));
        let later = buckets.read().since(&all);
        assert_eq!(later.count(), 1);
        assert!(later.quantile(0.5).unwrap() > Duration::from_millis(2700));
    }
}
