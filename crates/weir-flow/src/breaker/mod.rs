//! A circuit breaker: closed → open after a failure rate over a window →
//! half-open after a cool-down, with a set number of probes → closed
//! when they succeed. While open, calls wait (they do not fail), so the
//! stage that makes them stops taking items and backpressure stops the
//! source.

mod machine;
mod operation;
mod sink;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use operation::BreakerExt;
pub use sink::BreakerSinkExt;

use machine::Shared;

/// A circuit breaker's settings and its shared state: clones are one
/// breaker, so the operations and sinks that talk to one dependency can
/// share it, and a clone kept aside reads its [`state`](Breaker::state).
///
/// Defaults: it opens when at least half of at least 10 calls in the last
/// 10 s failed; it stays open 5 s, then lets one probe through; it closes
/// when the probe succeeds and opens again (for another cool-down) when
/// it fails.
///
/// What counts as a failure is the layer's business: every error by
/// default, or only the transient ones when the layer classifies
/// ([`Guarded::classify`](crate::Guarded::classify)); an error that is not transient (a bad item)
/// counts as an answer from the dependency, as a success does. A probe
/// whose call is dropped before it ends (cancelled, timed out by a layer
/// outside the breaker) gives its turn back, so the breaker never sticks
/// half-open.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_flow::{Breaker, BreakerState};
///
/// let breaker = Breaker::new()
///     .failure_rate(0.25)
///     .min_calls(20)
///     .window(Duration::from_secs(30))
///     .cool_down(Duration::from_secs(2));
/// assert!(breaker.validate().is_ok());
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
#[derive(Clone)]
pub struct Breaker {
    settings: Settings,
    pub(crate) shared: Arc<Shared>,
}

/// The settings of a [`Breaker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) failure_rate: f64,
    pub(crate) min_calls: u32,
    pub(crate) window: Duration,
    pub(crate) cool_down: Duration,
    pub(crate) probes: u32,
    /// Opens after this many failures in a row, whatever the rate.
    pub(crate) consecutive: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            failure_rate: 0.5,
            min_calls: 10,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(5),
            probes: 1,
            consecutive: None,
        }
    }
}

/// Where a [`Breaker`] is.
///
/// ```
/// use weir_flow::BreakerState;
///
/// assert_eq!(BreakerState::Open.to_string(), "open");
/// assert_eq!(BreakerState::HalfOpen.code(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; their results are counted.
    Closed,
    /// The cool-down is over: the probes go through, every other call
    /// waits for their verdict.
    HalfOpen,
    /// Calls wait for the cool-down to end.
    Open,
}

impl BreakerState {
    /// The state as a number, for a gauge (`breaker_state` in a stage's
    /// report): 0 closed, 1 half-open, 2 open.
    pub fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }

    /// The state a [`code`](Self::code) stands for (`None` for a number
    /// no state has): what reads the `breaker_state` gauge back.
    ///
    /// ```
    /// use weir_flow::BreakerState;
    ///
    /// for state in [BreakerState::Closed, BreakerState::HalfOpen, BreakerState::Open] {
    ///     assert_eq!(BreakerState::from_code(state.code()), Some(state));
    /// }
    /// assert_eq!(BreakerState::from_code(7), None);
    /// ```
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(BreakerState::Closed),
            1 => Some(BreakerState::HalfOpen),
            2 => Some(BreakerState::Open),
            _ => None,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Open => "open",
        })
    }
}

/// A [`Breaker`] setting that cannot work; the pipeline refuses it when it
/// is built.
///
/// ```
/// use weir_flow::{Breaker, InvalidBreaker};
///
/// assert_eq!(Breaker::new().probes(0).validate(), Err(InvalidBreaker::NoProbe));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidBreaker {
    /// The failure rate is not above 0 and at most 1.
    #[error(
        "the breaker's failure rate {0} is not in (0, 1]: give the share of failed calls that opens it, such as 0.5"
    )]
    FailureRate(f64),
    /// The window is zero.
    #[error(
        "the breaker's window is zero, so it would never see a failure: give a positive duration, such as 10 s"
    )]
    ZeroWindow,
    /// No call would be enough to open it.
    #[error("the breaker's minimum of calls is zero: give at least 1 (10 by default)")]
    NoMinCalls,
    /// Zero failures in a row would open it at once.
    #[error("the breaker opens after 0 failures in a row, that is at once: give at least 1")]
    NoConsecutive,
    /// No probe would ever close it again.
    #[error("the breaker lets no probe through, so it would never close again: give at least 1 probe")]
    NoProbe,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl Breaker {
    /// A closed breaker with the default settings.
    pub fn new() -> Self {
        let settings = Settings::default();
        Self { settings, shared: Arc::new(Shared::new(settings)) }
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        // Settings are given before the breaker is shared: a fresh state.
        self.shared = Arc::new(Shared::new(self.settings));
        self
    }

    /// The share of failed calls, over the window, that opens it (0.5 by
    /// default).
    pub fn failure_rate(self, rate: f64) -> Self {
        self.with(|s| s.failure_rate = rate)
    }

    /// The fewest calls in the window before it may open (10 by default):
    /// one failure out of one call is not a failure rate.
    pub fn min_calls(self, calls: u32) -> Self {
        self.with(|s| s.min_calls = calls)
    }

    /// Also opens after `failures` failures in a row, whatever the rate
    /// over the window (off by default): for a dependency called rarely
    /// (a batch a second), whose window holds many old successes.
    ///
    /// ```
    /// use weir_flow::Breaker;
    ///
    /// let breaker = Breaker::new().consecutive_failures(3);
    /// assert!(breaker.validate().is_ok());
    /// ```
    pub fn consecutive_failures(self, failures: u32) -> Self {
        self.with(|s| s.consecutive = Some(failures))
    }

    /// How far back calls count (10 s by default).
    pub fn window(self, window: Duration) -> Self {
        self.with(|s| s.window = window)
    }

    /// How long it stays open before the probes (5 s by default).
    pub fn cool_down(self, cool_down: Duration) -> Self {
        self.with(|s| s.cool_down = cool_down)
    }

    /// How many probes go through when half-open, each of which must
    /// succeed to close it (1 by default).
    pub fn probes(self, probes: u32) -> Self {
        self.with(|s| s.probes = probes)
    }

    /// Checks the settings; a pipeline calls it when it is built.
    ///
    /// # Errors
    ///
    /// [`InvalidBreaker`], whose message says what to change.
    pub fn validate(&self) -> Result<(), InvalidBreaker> {
        let s = &self.settings;
        if !(s.failure_rate > 0.0 && s.failure_rate <= 1.0) {
            return Err(InvalidBreaker::FailureRate(s.failure_rate));
        }
        if s.window.is_zero() {
            return Err(InvalidBreaker::ZeroWindow);
        }
        if s.min_calls == 0 {
            return Err(InvalidBreaker::NoMinCalls);
        }
        if s.probes == 0 {
            return Err(InvalidBreaker::NoProbe);
        }
        if s.consecutive == Some(0) {
            return Err(InvalidBreaker::NoConsecutive);
        }
        Ok(())
    }

    /// Where it is now.
    pub fn state(&self) -> BreakerState {
        self.shared.state()
    }

    /// How many times it opened.
    pub fn times_opened(&self) -> u64 {
        self.shared.times_opened()
    }

    /// How many times it closed again after being open.
    pub fn times_closed(&self) -> u64 {
        self.shared.times_closed()
    }

    /// Calls waiting for it now (while open or half-open).
    pub fn waiting(&self) -> u64 {
        self.shared.waiting()
    }

    /// Publishes its readings into a stage's reports: `breaker_state`
    /// ([`BreakerState::code`]), `breaker_opened`, `breaker_closed` and
    /// `breaker_waiting`.
    pub(crate) fn observe(&self, metrics: &weir_core::StageMetrics) {
        let shared = self.shared.clone();
        metrics.gauge("breaker_state", move || shared.state().code());
        let shared = self.shared.clone();
        metrics.gauge("breaker_opened", move || shared.times_opened());
        let shared = self.shared.clone();
        metrics.gauge("breaker_closed", move || shared.times_closed());
        let shared = self.shared.clone();
        metrics.gauge("breaker_waiting", move || shared.waiting());
    }

    /// Checks the settings for the stage `stage`, and names the breaker
    /// after it in its traces.
    pub(crate) fn validate_for(&self, stage: &str) -> Result<(), weir_core::BuildError> {
        self.validate().map_err(|e| weir_core::BuildError::invalid(stage, e))?;
        self.shared.name(stage);
        Ok(())
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker").field("settings", &self.settings).field("state", &self.state()).finish()
    }
}
