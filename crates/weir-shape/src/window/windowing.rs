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

use super::open::{Closed, Open, Shape};
use super::{FoldFn, InitFn, KeyFn, Overflow, TimeFn, Window, WindowError, Windowed};

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
    key: KeyFn<T, K>,
    init: InitFn<A>,
    fold: FoldFn<T, A>,
    shape: Shape,
    time: Option<(TimeFn<T>, Duration)>,
    max_open: usize,
    overflow: Overflow,
    /// The wall clock when the stage started, and the runtime's clock then
    /// (so that a paused clock pauses processing time too).
    wall: (Duration, Instant),
    /// The watermark at the last reading of the clock or of an event time.
    mark: Option<Duration>,
    /// The latest event time, and when it was seen (since the start).
    latest: Option<(Duration, Duration)>,
    ready: VecDeque<Out<T, K, A>>,
    /// The clock as last read (time since the start), and the items taken since: a run of items
    /// that are ready at once shares one reading (up to `FRESH` of them);
    /// the clock is read again once the input has waited.
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

/// Which of the readings a gauge reads.
type Reading = fn(&Readings) -> &AtomicU64;

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

impl<T, K: Hash + Eq + Clone, A> Windowing<T, K, A> {
    pub(super) fn new(input: EnvelopeStream<T>, window: Window<T, K, A>, ctx: StageContext) -> Self {
        let readings = Arc::new(Readings::default());
        let gauges: [(&str, Reading); 4] = [
            ("window_open", |r| &r.open),
            ("window_emitted", |r| &r.emitted),
            ("window_late", |r| &r.late),
            ("window_evicted", |r| &r.evicted),
        ];
        for (name, read) in gauges {
            let readings = readings.clone();
            ctx.metrics().gauge(name, move || read(&readings).load(Ordering::Relaxed));
        }
        let Window { key, init, fold, shape, time, max_open, overflow } = window;
        let now = Instant::now();
        Self {
            input,
            input_done: false,
            open: Open::new(shape.size),
            key,
            init,
            fold,
            shape,
            time,
            max_open,
            overflow,
            wall: (since_epoch(SystemTime::now()), now),
            latest: None,
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
    fn watermark(&self, now: Duration) -> Option<Duration> {
        match &self.time {
            None => Some(self.wall_now(now)),
            Some((_, lateness)) => self
                .latest
                .map(|(latest, seen)| (latest + now.saturating_sub(seen)).saturating_sub(*lateness)),
        }
    }

    /// When the watermark reaches `end`.
    fn due(&self, end: Duration, now: Duration) -> Instant {
        let after_start = match (&self.time, self.latest) {
            (None, _) => end.saturating_sub(self.wall.0),
            (Some((_, lateness)), Some((latest, seen))) => seen + (end + *lateness).saturating_sub(latest),
            (Some(_), None) => now,
        };
        self.wall.1 + after_start
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
        let t = match &self.time {
            None => self.wall_now(now),
            Some((time, _)) => {
                let t = since_epoch(time(item));
                let clock = self.latest.map(|(latest, seen)| latest + now.saturating_sub(seen));
                if clock.is_none_or(|clock| t > clock) {
                    self.latest = Some((t, now));
                    self.mark = self.watermark(now);
                }
                t
            }
        };
        // Windows that came out already take nothing more.
        let watermark = self.mark.unwrap_or(Duration::ZERO);
        let starts = self.shape.starts(t, watermark);
        if starts.is_empty() {
            self.readings.late.fetch_add(1, Ordering::Relaxed);
            let error = WindowError::Late { event_time: UNIX_EPOCH + t, watermark: UNIX_EPOCH + watermark };
            self.fail(envelope, error);
            return;
        }
        let key = (self.key)(item);
        let new = if self.open.len() + starts.len() > self.max_open {
            starts.iter().filter(|start| !self.open.contains(&key, *start)).count()
        } else {
            0
        };
        if self.open.len() + new > self.max_open {
            match self.overflow {
                Overflow::Fail => {
                    self.fail(envelope, WindowError::TooManyOpen { max: self.max_open });
                    return;
                }
                Overflow::CloseEarliest => {
                    while self.open.len() + new > self.max_open && self.open.len() > 0 {
                        let (ready, readings) = (&mut self.ready, &self.readings);
                        self.open.close_earliest(&mut |closed| {
                            readings.evicted.fetch_add(1, Ordering::Relaxed);
                            emit(ready, readings, closed);
                        });
                    }
                }
            }
        }
        let (item, meta) = envelope.into_parts();
        let mut meta = Some(meta);
        // Latest start first: the window that comes out last keeps the
        // item's acknowledgement and count.
        for start in starts.iter() {
            let acc = self.open.entry(&key, start, || (self.init)());
            (self.fold)(&mut acc.value, &item);
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
                this.mark = this.watermark(this.clock.0);
            }
            let now = this.clock.0;
            this.close_due();
            if !this.ready.is_empty() {
                continue;
            }
            match this.input.poll_next_unpin(cx) {
                Poll::Ready(Some(envelope)) => {
                    this.take(envelope, now);
                    this.clock.1 += 1;
                    continue;
                }
                Poll::Ready(None) => {
                    this.input_done = true;
                    continue;
                }
                // The next item comes later: read the clock then.
                Poll::Pending => this.clock.1 = FRESH,
            }
            let Some(end) = this.open.next_end() else { return Poll::Pending };
            let due = this.due(end, now);
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
