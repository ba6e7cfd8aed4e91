//! Adaptive concurrency: the number of calls in flight finds itself from
//! their round-trip time and their overload errors.

mod control;
mod gate;
mod operation;
mod sink;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

pub use operation::AdaptiveExt;
pub use sink::AdaptiveSinkExt;

use control::Control;
use gate::Gate;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) initial: u32,
    pub(crate) decrease: f64,
}

/// An adaptive concurrency limit, shared by the calls of the operations
/// and sinks it guards (clones are one limit): at most [`limit`](Self::limit)
/// calls at once, a limit that finds itself.
///
/// It starts at 1 and doubles every round trip while the calls keep their
/// round-trip time and more are waiting (a slow start, so it ramps up in
/// a few round trips, where additive increase alone would take hundreds:
/// the fault of Vector's ARC, vector#3255). When the mean round-trip time
/// of a window rises more than 10 % above its baseline (a queue builds
/// at the dependency), the limit goes down by a tenth, and from then on
/// up by one per round trip (AIMD). Overload errors (transient errors
/// and timeouts; not permanent ones, which say nothing about load) halve
/// it when most calls fail, else take a tenth; at the minimum it slow
/// starts again, so it is back up within a few round trips of an outage's
/// end. Between bounds the user may set (1 and 256 by default).
///
/// The limit and the calls in flight are gauges in the stage's reports
/// (`concurrency_limit`, `concurrency_in_flight`) and metrics.
///
/// # Examples
///
/// ```
/// use weir_flow::Adaptive;
///
/// let adaptive = Adaptive::new().bounds(2, 64);
/// assert!(adaptive.validate().is_ok());
/// assert_eq!(adaptive.limit(), 2);
/// ```
#[derive(Clone)]
pub struct Adaptive {
    settings: Settings,
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    control: Mutex<Control>,
    gate: Gate,
    limit: AtomicU32,
}

/// An [`Adaptive`] setting that cannot work; refused when the pipeline is
/// built.
///
/// ```
/// use weir_flow::{Adaptive, InvalidAdaptive};
///
/// assert_eq!(Adaptive::new().bounds(8, 4).validate(), Err(InvalidAdaptive::Bounds { min: 8, max: 4 }));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidAdaptive {
    /// The bounds are empty or start at zero.
    #[error("the concurrency bounds {min}..={max} are empty or start at zero: give 1 <= min <= max")]
    Bounds {
        /// The lower bound.
        min: u32,
        /// The upper bound.
        max: u32,
    },
    /// The decrease would not lower the limit, or would drop it to zero.
    #[error(
        "the decrease ratio {0} is not in (0, 1): give the share of the limit kept on overload, such as 0.9"
    )]
    Decrease(f64),
}

impl Default for Adaptive {
    fn default() -> Self {
        Self::new()
    }
}

impl Adaptive {
    /// A limit between 1 and 256, starting at 1.
    pub fn new() -> Self {
        Self::with(Settings { min: 1, max: 256, initial: 1, decrease: 0.9 })
    }

    fn with(settings: Settings) -> Self {
        let shared = Shared {
            control: Mutex::new(Control::new(settings, Instant::now())),
            gate: Gate::new(settings.initial),
            limit: AtomicU32::new(settings.initial),
        };
        Self { settings, shared: Arc::new(shared) }
    }

    /// The bounds of the limit; it starts at `min`.
    pub fn bounds(self, min: u32, max: u32) -> Self {
        Self::with(Settings { min, max, initial: min, ..self.settings })
    }

    /// The share of the limit kept when the round-trip time rises (0.9 by
    /// default).
    pub fn decrease(self, ratio: f64) -> Self {
        Self::with(Settings { decrease: ratio, ..self.settings })
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`InvalidAdaptive`], whose message says what to change.
    pub fn validate(&self) -> Result<(), InvalidAdaptive> {
        let s = &self.settings;
        if s.min == 0 || s.min > s.max {
            return Err(InvalidAdaptive::Bounds { min: s.min, max: s.max });
        }
        if !(s.decrease > 0.0 && s.decrease < 1.0) {
            return Err(InvalidAdaptive::Decrease(s.decrease));
        }
        Ok(())
    }

    /// The limit now.
    pub fn limit(&self) -> u32 {
        self.shared.limit.load(Ordering::Relaxed)
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u64 {
        self.shared.gate.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn validate_for(&self, stage: &str) -> Result<(), weir_core::BuildError> {
        self.validate().map_err(|e| weir_core::BuildError::invalid(stage, e))
    }

    pub(crate) fn observe(&self, metrics: &weir_core::StageMetrics) {
        let shared = self.shared.clone();
        metrics.gauge("concurrency_limit", move || u64::from(shared.limit.load(Ordering::Relaxed)));
        let shared = self.shared.clone();
        metrics.gauge("concurrency_in_flight", move || shared.gate.in_flight.load(Ordering::Relaxed));
    }
}

impl Shared {
    /// Runs `call` within the limit, timing it; `overload` says whether
    /// its outcome counts as overload.
    pub(crate) async fn run<R, Fut: Future<Output = R>>(
        &self,
        call: impl FnOnce() -> Fut,
        overload: impl FnOnce(&R) -> bool,
    ) -> R {
        let place = self.gate.enter(|| self.lock().saturated()).await;
        let start = Instant::now();
        let result = call().await;
        let now = Instant::now();
        {
            // The new limit is applied under the lock that chose it, so
            // two completions cannot apply their changes out of order.
            let mut control = self.lock();
            if let Some(limit) = control.record(now, now - start, overload(&result)) {
                let before = self.limit.swap(limit, Ordering::Relaxed);
                self.gate.resize(before, limit);
                tracing::debug!(limit, "concurrency limit");
            }
        }
        drop(place);
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Adaptive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adaptive").field("settings", &self.settings).field("limit", &self.limit()).finish()
    }
}
