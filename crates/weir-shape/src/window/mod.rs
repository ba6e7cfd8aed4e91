//! Keyed windows: items grouped by key into tumbling or sliding windows of
//! processing time or event time, each window folded into one output.

mod open;
mod windowing;

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use weir_core::{
    BuildError, EnvelopeStream, Fallible, FallibleStage, FallibleStream, Pipeline, StageContext,
};

use open::Shape;

type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;
type InitFn<A> = Arc<dyn Fn() -> A + Send + Sync>;
type FoldFn<T, A> = Arc<dyn Fn(&mut A, &T) + Send + Sync>;
type TimeFn<T> = Arc<dyn Fn(&T) -> SystemTime + Send + Sync>;

/// The first step of a [`Window`]: the key items are grouped by. Say how
/// each window's items are aggregated next: [`fold`](Keyed::fold), or
/// [`count`](Keyed::count), [`sum`](Keyed::sum), [`min`](Keyed::min),
/// [`max`](Keyed::max).
pub struct Keyed<T, K> {
    key: KeyFn<T, K>,
}

impl<T, K> fmt::Debug for Keyed<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed").finish_non_exhaustive()
    }
}

impl<T: 'static, K> Keyed<T, K> {
    /// Folds each window's items into `init()` with `fold`, in the order
    /// they arrived.
    ///
    /// ```
    /// use weir_shape::Window;
    ///
    /// // The readings of each device, per window, as a list.
    /// let windows = Window::by_key(|r: &(u32, f64)| r.0).fold(Vec::new, |all: &mut Vec<f64>, r| all.push(r.1));
    /// # let _ = windows;
    /// ```
    pub fn fold<A>(
        self,
        init: impl Fn() -> A + Send + Sync + 'static,
        fold: impl Fn(&mut A, &T) + Send + Sync + 'static,
    ) -> Window<T, K, A> {
        Window {
            key: self.key,
            init: Arc::new(init),
            fold: Arc::new(fold),
            shape: Shape { size: Duration::from_secs(60), every: Duration::from_secs(60) },
            time: None,
            idle: None,
            max_ahead: Duration::from_secs(3600),
            max_open: 100_000,
            overflow: Overflow::Fail,
        }
    }

    /// Counts each window's items.
    pub fn count(self) -> Window<T, K, u64> {
        self.fold(|| 0, |n, _| *n += 1)
    }

    /// Sums `value` over each window's items.
    pub fn sum<V>(self, value: impl Fn(&T) -> V + Send + Sync + 'static) -> Window<T, K, V>
    where
        V: Default + std::ops::AddAssign + 'static,
    {
        self.fold(V::default, move |sum, item| *sum += value(item))
    }

    /// The least `value` of each window's items.
    pub fn min<V: PartialOrd + 'static>(
        self,
        value: impl Fn(&T) -> V + Send + Sync + 'static,
    ) -> Window<T, K, Option<V>> {
        self.fold(
            || None,
            move |least: &mut Option<V>, item| {
                let v = value(item);
                if least.as_ref().is_none_or(|least| v < *least) {
                    *least = Some(v);
                }
            },
        )
    }

    /// The greatest `value` of each window's items.
    pub fn max<V: PartialOrd + 'static>(
        self,
        value: impl Fn(&T) -> V + Send + Sync + 'static,
    ) -> Window<T, K, Option<V>> {
        self.fold(
            || None,
            move |most: &mut Option<V>, item| {
                let v = value(item);
                if most.as_ref().is_none_or(|most| v > *most) {
                    *most = Some(v);
                }
            },
        )
    }
}

/// What happens when an item would open a window past
/// [`max_open`](Window::max_open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// The item fails with [`WindowError::TooManyOpen`] (dead-letter it or
    /// discard it); the open windows stay exact. The default.
    Fail,
    /// The windows that end first (every key's window with that end) are
    /// emitted early, as they are, and
    /// counted in the gauge `window_evicted`; a later item of such a
    /// window opens it again, so its key and bounds may come out twice.
    CloseEarliest,
}

/// Keyed windows: each item goes, by its key, into the windows of its
/// time, and each window comes out once as a [`Windowed`]: its key, its
/// bounds, and its items folded.
///
/// - **Shapes:** [`tumbling`](Window::tumbling) (back to back, one
///   minute by default) or [`sliding`](Window::sliding) (overlapping,
///   an item in each window that holds its time). Windows are aligned to
///   the Unix epoch: a one-minute window starts on the minute.
/// - **Time:** processing time by default (the time the item reaches the
///   stage; a window comes out when the clock passes its end), or
///   [`event_time`](Window::event_time), the item's own time, with a
///   watermark: the latest event time seen less the allowed lateness,
///   which also moves on with the wall clock once the input has been
///   quiet for a while ([`idle_after`](Window::idle_after)), so windows
///   close when input goes quiet (flink#6076). A window comes out once
///   the watermark passes its end. An item whose windows have all come
///   out is late: it fails with [`WindowError::Late`], to dead-letter or
///   discard like any failure, counted, never dropped silently. Items
///   whose time is before the Unix epoch or far ahead of the wall clock
///   ([`max_ahead`](Window::max_ahead)) fail too.
/// - **Bounded:** at most [`max_open`](Window::max_open) windows are open
///   (100,000 by default); past it, [`Overflow`] says what happens.
/// - **Acknowledgements:** an item's acknowledgement goes with the last
///   of its windows to come out, and fires once that window's output is
///   delivered (stored by the sink), so a crash before then redelivers the
///   item. Its count goes there too: reports count each item once.
/// - **End of input:** every open window comes out (on shutdown, the
///   drain emits them).
///
/// The stage's reports carry the gauges `window_open`, `window_emitted`,
/// `window_late` and `window_evicted`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use weir_core::prelude::*;
/// use weir_core::sink;
/// use weir_shape::{Window, WindowExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), RunError> {
/// let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
/// // (device, reading, time)
/// let readings = [(1, 5, at(0)), (2, 7, at(10)), (1, 6, at(50)), (1, 9, at(70))];
/// let per_minute = Window::by_key(|r: &(u32, u64, SystemTime)| r.0)
///     .sum(|r| r.1)
///     .tumbling(Duration::from_secs(60))
///     .event_time(|r| r.2, Duration::from_secs(5));
/// let (sink, out) = sink::collect();
/// Pipeline::from_iter(readings).window("per-minute", per_minute).discard_failures().sink(sink).run().await?;
/// let sums: Vec<_> = out.take().into_iter().map(|w| (w.key, w.start, w.value)).collect();
/// assert_eq!(sums, [(1, at(0), 11), (2, at(0), 7), (1, at(60), 9)]);
/// # Ok(())
/// # }
/// ```
pub struct Window<T, K, A> {
    key: KeyFn<T, K>,
    init: InitFn<A>,
    fold: FoldFn<T, A>,
    shape: Shape,
    time: Option<(TimeFn<T>, Duration)>,
    idle: Option<Duration>,
    max_ahead: Duration,
    max_open: usize,
    overflow: Overflow,
}

impl Window<(), (), ()> {
    /// Windows of the items grouped by `key`; say how to aggregate next.
    ///
    /// ```
    /// use weir_shape::Window;
    ///
    /// let counts = Window::by_key(|line: &String| line.len()).count();
    /// # let _ = counts;
    /// ```
    pub fn by_key<T, K>(key: impl Fn(&T) -> K + Send + Sync + 'static) -> Keyed<T, K> {
        Keyed { key: Arc::new(key) }
    }
}

impl<T, K, A> Window<T, K, A> {
    /// Back-to-back windows of `size`.
    pub fn tumbling(mut self, size: Duration) -> Self {
        self.shape = Shape { size, every: size };
        self
    }

    /// Windows of `size`, one starting every `every`: an item is in each
    /// window that holds its time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_shape::Window;
    ///
    /// // The last five minutes, every minute.
    /// let w = Window::by_key(|x: &u32| *x).count().sliding(Duration::from_secs(300), Duration::from_secs(60));
    /// assert!(w.validate().is_ok());
    /// ```
    pub fn sliding(mut self, size: Duration, every: Duration) -> Self {
        self.shape = Shape { size, every };
        self
    }

    /// Event time: `time` gives each item's time; windows come out once
    /// the watermark (the latest event time seen, less `lateness`, moved
    /// on by the wall clock while the input is quiet) passes their end.
    pub fn event_time(
        mut self,
        time: impl Fn(&T) -> SystemTime + Send + Sync + 'static,
        lateness: Duration,
    ) -> Self {
        self.time = Some((Arc::new(time), lateness));
        self
    }

    /// On event time, how long the input must be quiet before the
    /// watermark moves on with the wall clock (by default the lateness,
    /// at least one second). While items keep coming, only their times
    /// move it: an input slower than real time (a replay, a trickle)
    /// never makes its own items late.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use weir_shape::Window;
    ///
    /// let w = Window::by_key(|r: &(u32, SystemTime)| r.0)
    ///     .count()
    ///     .event_time(|r| r.1, Duration::from_secs(5))
    ///     .idle_after(Duration::from_secs(30));
    /// assert!(w.validate().is_ok());
    /// ```
    pub fn idle_after(mut self, quiet: Duration) -> Self {
        self.idle = Some(quiet);
        self
    }

    /// On event time, how far ahead of the wall clock an item's time may
    /// be (one hour by default): an item further ahead fails with
    /// [`WindowError::AheadOfClock`] instead of moving the watermark
    /// past every later item (one bad timestamp from a client would make
    /// the rest of the run late).
    pub fn max_ahead(mut self, ahead: Duration) -> Self {
        self.max_ahead = ahead;
        self
    }

    /// The quiet time after which the watermark follows the wall clock.
    fn idle(&self) -> Duration {
        let lateness = self.time.as_ref().map_or(Duration::ZERO, |(_, lateness)| *lateness);
        self.idle.unwrap_or(lateness.max(Duration::from_secs(1)))
    }

    /// The most windows open at once (all keys together).
    pub fn max_open(mut self, windows: usize) -> Self {
        self.max_open = windows;
        self
    }

    /// What happens past [`max_open`](Self::max_open).
    pub fn on_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`InvalidWindow`], whose message says what to change.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_shape::{InvalidWindow, Window};
    ///
    /// let w = Window::by_key(|x: &u32| *x).count().sliding(Duration::from_secs(60), Duration::from_secs(90));
    /// assert!(matches!(w.validate(), Err(InvalidWindow::GapsBetween { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), InvalidWindow> {
        let Shape { size, every } = self.shape;
        if size.is_zero() || every.is_zero() {
            return Err(InvalidWindow::ZeroLength);
        }
        if every > size {
            return Err(InvalidWindow::GapsBetween { size, every });
        }
        if self.max_open == 0 {
            return Err(InvalidWindow::NoneOpen);
        }
        let per_item = usize::try_from(size.as_nanos().div_ceil(every.as_nanos())).unwrap_or(usize::MAX);
        if per_item > self.max_open {
            return Err(InvalidWindow::MoreWindowsPerItem { per_item, max_open: self.max_open });
        }
        Ok(())
    }
}

impl<T, K, A> fmt::Debug for Window<T, K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("shape", &self.shape)
            .field("event_time", &self.time.as_ref().map(|(_, lateness)| lateness))
            .field("idle", &self.idle())
            .field("max_ahead", &self.max_ahead)
            .field("max_open", &self.max_open)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

/// One window's result: its key, its bounds, and its items folded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Windowed<K, A> {
    /// The key.
    pub key: K,
    /// The window's start (included).
    pub start: SystemTime,
    /// The window's end (excluded).
    pub end: SystemTime,
    /// The fold of its items.
    pub value: A,
    /// How many items were folded.
    pub items: u64,
}

/// Why an item did not go into a window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// Every window of the item's time has come out already.
    #[error(
        "late: the item's time {event_time:?} is behind the watermark {watermark:?}, its windows have closed (raise the allowed lateness to take such items)"
    )]
    Late {
        /// The item's time.
        event_time: SystemTime,
        /// The watermark when it came.
        watermark: SystemTime,
    },
    /// The item's time is before the Unix epoch, where no window is.
    #[error("the item's time {event_time:?} is before the Unix epoch: windows start at 1970-01-01")]
    BeforeEpoch {
        /// The item's time.
        event_time: SystemTime,
    },
    /// The item's time is further ahead of the wall clock than allowed.
    #[error(
        "the item's time {event_time:?} is more than {max_ahead:?} ahead of the clock ({clock:?}): a sender's clock is wrong, or raise max_ahead"
    )]
    AheadOfClock {
        /// The item's time.
        event_time: SystemTime,
        /// The wall clock when it came.
        clock: SystemTime,
        /// The most allowed.
        max_ahead: Duration,
    },
    /// The item would open a window past the limit.
    #[error(
        "{max} windows are open, the most allowed: the item would open another (raise max_open, or close the earliest with Overflow::CloseEarliest)"
    )]
    TooManyOpen {
        /// The limit.
        max: usize,
    },
}

/// A [`Window`] that cannot work; the pipeline refuses it when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidWindow {
    /// A window or its step is zero long.
    #[error("a window's size and step must be positive durations")]
    ZeroLength,
    /// Sliding windows further apart than they are long.
    #[error(
        "windows of {size:?} starting every {every:?} leave gaps, where items would belong to no window: make the step at most the size"
    )]
    GapsBetween {
        /// The size.
        size: Duration,
        /// The step.
        every: Duration,
    },
    /// `max_open(0)`.
    #[error("max_open is zero, so no window could open: give at least 1")]
    NoneOpen,
    /// An item would be in more windows than may be open.
    #[error(
        "each item is in {per_item} sliding windows, more than the {max_open} that may be open: raise max_open or make the step longer"
    )]
    MoreWindowsPerItem {
        /// Windows holding each item.
        per_item: usize,
        /// The limit.
        max_open: usize,
    },
}

/// Windows on a pipeline.
pub trait WindowExt<T>: Sized {
    /// Groups the items into the keyed windows `window` describes, as the
    /// stage `name`; each window comes out as a [`Windowed`]. Late items
    /// and items past the open-window limit are failures
    /// ([`WindowError`]): say what happens to them, as for any failure.
    ///
    /// # Errors
    ///
    /// Invalid settings ([`Window::validate`]) are a
    /// [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the
    /// stage, before anything runs.
    ///
    /// # Examples
    ///
    /// See [`Window`].
    fn window<K, A>(self, name: &str, window: Window<T, K, A>) -> Fallible<Windowed<K, A>, T, WindowError>
    where
        K: Hash + Eq + Clone + Send + 'static,
        A: Send + 'static;
}

impl<T: Send + 'static> WindowExt<T> for Pipeline<T> {
    fn window<K, A>(self, name: &str, window: Window<T, K, A>) -> Fallible<Windowed<K, A>, T, WindowError>
    where
        K: Hash + Eq + Clone + Send + 'static,
        A: Send + 'static,
    {
        self.try_stage(WindowStage { name: name.to_owned(), window })
    }
}

struct WindowStage<T, K, A> {
    name: String,
    window: Window<T, K, A>,
}

impl<T, K, A> FallibleStage<T> for WindowStage<T, K, A>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + 'static,
    A: Send + 'static,
{
    type Output = Windowed<K, A>;
    type Error = WindowError;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), BuildError> {
        self.window.validate().map_err(|e| BuildError::invalid(&self.name, e))
    }

    fn build(
        self,
        input: EnvelopeStream<T>,
        ctx: StageContext,
    ) -> FallibleStream<Windowed<K, A>, T, WindowError> {
        Box::pin(windowing::Windowing::new(input, self.window, ctx))
    }
}
