//! The window stage, running: takes items into their windows and gives
//! each window out once its time has passed.

use std::collections::VecDeque;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Future, Stream, StreamExt};
use tokio::time::{Instant, Sleep};
use weir_core::{Cause, Envelope, EnvelopeStream, ErrorClass, Failure, StageContext};

use super::open::{Closed, Open};
use super::{Overflow, Window, WindowError, Windowed};

/// The stage's readings, published as gauges.
#[derive(Default)]
struct Readings {
    open: AtomicU64,
    emitted: AtomicU64,
    late: AtomicU64,
    evicted: AtomicU64,
}

type Out<T, K, A> = Result<Envelope<Windowed<K, A>>, Failure<T, WindowError>>;

pub(super) struct Windowing<T, K, A> {
    input: EnvelopeStream<T>,
    input_done: bool,
    open: Open<K, A>,
    /// What the user asked for.
    spec: Window<T, K, A>,
    /// The wall clock when the stage started, and the runtime's clock then
    /// (so that a paused clock pauses processing time too).
    wall: (Duration, Instant),
    /// The watermark at the last reading of the clock or of an event time.
    mark: Option<Duration>,
    /// The latest event time.
    latest: Option<Duration>,
    /// Since when the input has had nothing (time since the start).
    idle_since: Option<Duration>,
    ready: VecDeque<Out<T, K, A>>,
    /// The clock as last read (time since the start), and the items taken
    /// since: a run of items that are ready at once shares one reading (up
    /// to `FRESH` of them); the clock is read again once the input has
    /// waited.
    clock: (Duration, u32),
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    readings: Arc<Readings>,
    ctx: StageContext,
}

// Nothing in it is pinned but the boxed timer.
impl<T, K, A> Unpin for Windowing<T, K, A> {}

/// Items that share one reading of the clock, at most: reading it took a
/// quarter of an item's time, and microseconds do not move a window.
const FRESH: u32 = 64;

/// A deadline past the clock's range.
const FAR: Duration = Duration::from_secs(86_400 * 365);

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

impl<T, K: Hash + Eq + Clone, A> Windowing<T, K, A> {
    pub(super) fn new(input: EnvelopeStream<T>, window: Window<T, K, A>, ctx: StageContext) -> Self {
        let readings = Arc::new(Readings::default());
        ctx.metrics().gauges(
            &readings,
            &[
                ("window_open", |r| r.open.load(Ordering::Relaxed)),
                ("window_emitted", |r| r.emitted.load(Ordering::Relaxed)),
                ("window_late", |r| r.late.load(Ordering::Relaxed)),
                ("window_evicted", |r| r.evicted.load(Ordering::Relaxed)),
            ],
        );
        let now = Instant::now();
        Self {
            input,
            input_done: false,
            open: Open::new(window.shape.size),
            spec: window,
            wall: (since_epoch(SystemTime::now()), now),
            latest: None,
            idle_since: None,
            mark: None,
            ready: VecDeque::new(),
            clock: (Duration::ZERO, FRESH),
            sleep: Box::pin(tokio::time::sleep_until(now)),
            armed: None,
            readings,
            ctx,
        }
    }

    /// Processing time at `now` (time since the stage started), since
    /// the epoch.
    fn wall_now(&self, now: Duration) -> Duration {
        self.wall.0 + now
    }

    /// The watermark at `now`: windows ending at or before it come out.
    /// On event time, the latest event time less the lateness, plus the
    /// wall-clock time since the input went quiet once it has been quiet
    /// for the idle time (so a slow but steady input never makes its own
    /// items late, and a quiet one still closes its windows).
    fn watermark(&self, now: Duration) -> Option<Duration> {
        let Some((_, lateness)) = &self.spec.time else { return Some(self.wall_now(now)) };
        let latest = self.latest?;
        let quiet = match self.idle_since {
            Some(since) if now.saturating_sub(since) >= self.spec.idle() => now - since,
            _ => Duration::ZERO,
        };
        Some(latest.saturating_add(quiet).saturating_sub(*lateness))
    }

    /// Moves the watermark to what it is at `now`; it never goes back.
    fn advance(&mut self, now: Duration) {
        self.mark = self.mark.max(self.watermark(now));
    }

    /// When the watermark reaches `end` with no more input, if it does.
    fn due(&self, end: Duration) -> Option<Instant> {
        let after_start = match (&self.spec.time, self.latest, self.idle_since) {
            (None, _, _) => end.saturating_sub(self.wall.0),
            (Some((_, lateness)), Some(latest), Some(since)) => {
                let quiet = end.saturating_add(*lateness).saturating_sub(latest).max(self.spec.idle());
                since.saturating_add(quiet)
            }
            (Some(_), _, _) => return None,
        };
        // Past the clock's range: never, as far as this run is concerned.
        Some(self.wall.1.checked_add(after_start).unwrap_or_else(|| Instant::now() + FAR))
    }

    /// Gives out the windows the watermark has passed.
    fn close_due(&mut self) {
        let Some(watermark) = self.mark else { return };
        if self.open.next_end().is_some_and(|end| end <= watermark) {
            let (ready, readings) = (&mut self.ready, &self.readings);
            self.open.close_until(watermark, &mut |closed| emit(ready, readings, closed));
            self.readings.open.store(self.open.len() as u64, Ordering::Relaxed);
        }
    }

    /// Takes an item into its windows, or fails it.
    fn take(&mut self, envelope: Envelope<T>, now: Duration) {
        let item = envelope.item();
        let t = match &self.spec.time {
            None => self.wall_now(now),
            Some((time, _)) => {
                let event_time = time(item);
                let Ok(t) = event_time.duration_since(UNIX_EPOCH) else {
                    self.fail(envelope, WindowError::BeforeEpoch { event_time });
                    return;
                };
                let clock = self.wall_now(now);
                if t > clock.saturating_add(self.spec.max_ahead) {
                    let clock = UNIX_EPOCH + clock;
                    self.fail(
                        envelope,
                        WindowError::AheadOfClock { event_time, clock, max_ahead: self.spec.max_ahead },
                    );
                    return;
                }
                if self.latest.is_none_or(|latest| t > latest) {
                    self.latest = Some(t);
                    self.advance(now);
                }
                t
            }
        };
        // Windows that came out already take nothing more.
        let watermark = self.mark.unwrap_or(Duration::ZERO);
        let starts = self.spec.shape.starts(t, watermark);
        if starts.is_empty() {
            self.readings.late.fetch_add(1, Ordering::Relaxed);
            let error = WindowError::Late { event_time: UNIX_EPOCH + t, watermark: UNIX_EPOCH + watermark };
            self.fail(envelope, error);
            return;
        }
        let key = (self.spec.key)(item);
        let new = if self.open.len() + starts.len() > self.spec.max_open {
            starts.iter().filter(|start| !self.open.contains(&key, *start)).count()
        } else {
            0
        };
        if self.open.len() + new > self.spec.max_open {
            match self.spec.overflow {
                Overflow::Fail => {
                    self.fail(envelope, WindowError::TooManyOpen { max: self.spec.max_open });
                    return;
                }
                Overflow::CloseEarliest => loop {
                    // The item's own windows may be among those closed.
                    let new = starts.iter().filter(|start| !self.open.contains(&key, *start)).count();
                    if self.open.len() + new <= self.spec.max_open || self.open.len() == 0 {
                        break;
                    }
                    let (ready, readings) = (&mut self.ready, &self.readings);
                    self.open.close_earliest(&mut |closed| {
                        readings.evicted.fetch_add(1, Ordering::Relaxed);
                        emit(ready, readings, closed);
                    });
                },
            }
        }
        let (item, meta) = envelope.into_parts();
        let mut meta = Some(meta);
        // Latest start first: the window that comes out last keeps the
        // item's acknowledgement and count.
        for start in starts.iter() {
            let acc = self.open.entry(&key, start, || (self.spec.init)());
            (self.spec.fold)(&mut acc.value, &item);
            acc.items += 1;
            if let Some(meta) = meta.take() {
                acc.meta.merge(meta);
            }
        }
        self.readings.open.store(self.open.len() as u64, Ordering::Relaxed);
    }

    fn fail(&mut self, envelope: Envelope<T>, error: WindowError) {
        let failure = self.ctx.failure(envelope, Cause::Error(error), ErrorClass::Permanent, 1);
        self.ready.push_back(Err(failure));
    }
}

fn emit<T, K, A>(ready: &mut VecDeque<Out<T, K, A>>, readings: &Readings, closed: Closed<K, A>) {
    let Closed { key, start, end, acc } = closed;
    readings.emitted.fetch_add(1, Ordering::Relaxed);
    let windowed = Windowed {
        key,
        start: UNIX_EPOCH + start,
        end: UNIX_EPOCH + end,
        value: acc.value,
        items: acc.items,
    };
    ready.push_back(Ok(Envelope::from_parts(windowed, acc.meta)));
}

impl<T, K: Hash + Eq + Clone, A> Stream for Windowing<T, K, A> {
    type Item = Out<T, K, A>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(out) = this.ready.pop_front() {
                return Poll::Ready(Some(out));
            }
            if this.input_done {
                if this.open.len() == 0 {
                    return Poll::Ready(None);
                }
                // The input ended: every open window comes out.
                let (ready, readings) = (&mut this.ready, &this.readings);
                this.open.close_until(Duration::MAX, &mut |closed| emit(ready, readings, closed));
                this.readings.open.store(0, Ordering::Relaxed);
                continue;
            }
            if this.clock.1 >= FRESH {
                this.clock = (Instant::now() - this.wall.1, 0);
                this.advance(this.clock.0);
            }
            let now = this.clock.0;
            this.close_due();
            if !this.ready.is_empty() {
                continue;
            }
            match this.input.poll_next_unpin(cx) {
                Poll::Ready(Some(envelope)) => {
                    this.idle_since = None;
                    this.take(envelope, now);
                    this.clock.1 += 1;
                    continue;
                }
                Poll::Ready(None) => {
                    this.input_done = true;
                    continue;
                }
                // The next item comes later: read the clock then.
                Poll::Pending => {
                    this.idle_since.get_or_insert(now);
                    this.clock.1 = FRESH;
                }
            }
            let Some(end) = this.open.next_end() else { return Poll::Pending };
            let Some(due) = this.due(end) else { return Poll::Pending };
            if this.armed != Some(due) {
                this.sleep.as_mut().reset(due);
                this.armed = Some(due);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.armed = None;
        }
    }
}
