//! Flow control for weir pipelines that talk to the real world.
//!
//! - [`Breaker`]: a circuit breaker, as a layer on an operation
//!   ([`BreakerExt::breaker`]) or a sink ([`BreakerSinkExt::breaker`]).
//!   While a dependency is down it stops intake instead of failing items:
//!   calls wait, the stage stops taking items, backpressure stops the
//!   source, and one probe (or as many as set) tells when to go on.
//! - [`Adaptive`]: adaptive concurrency, as a layer on an operation
//!   ([`AdaptiveExt::adaptive`]) or on sinks sharing it
//!   ([`AdaptiveSinkExt::adaptive`]): how many calls are in flight finds
//!   itself from their round-trip time and overload errors.
//! - [`Limit`]: rate limits, global or per key (each key with its own
//!   [`Rate`] if need be), by count or by a cost per item; shaping
//!   ([`RateLimitExt::throttle`]: items wait) or enforcing
//!   ([`RateLimitExt::rate_limit`]: excess items fail with
//!   [`RateLimited`], to be dead-lettered, discarded or halted on).
//! - [`RestartSource`]: a source made again, after a backoff, when it
//!   fails or ends; the backoff starts over only after a healthy period.
//! - [`KillSwitch`]: stops several pipelines at once, draining
//!   ([`KillSwitch::shutdown`]) or not ([`KillSwitch::abort`]).
//! - [`FlowTimeoutExt`]: an idle timeout that raises an event, and a
//!   completion timeout that ends the run.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::prelude::*;
//! use weir_core::sink;
//! use weir_fanout::{FanOut, FanOutExt};
//! use weir_flow::{Breaker, BreakerExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), RunError> {
//! let breaker = Breaker::new().cool_down(Duration::from_secs(1));
//! let store = |row: u32| async move { Ok::<_, std::io::Error>(row) };
//! let report = Pipeline::from_iter(0..100u32)
//!     .fan_out("store", FanOut::workers(4), store.breaker(breaker.clone()))
//!     .discard_failures()
//!     .sink(sink::drain())
//!     .run()
//!     .await?;
//! assert_eq!(report.delivered(), 100);
//! assert_eq!(breaker.times_opened(), 0);
//! # Ok(())
//! # }
//! ```

mod adaptive;
mod breaker;
mod guard;
mod kill_switch;
mod rate;
mod restart;
mod timeouts;

pub use adaptive::{Adaptive, AdaptiveExt, AdaptiveSinkExt, InvalidAdaptive};
pub use guard::{Guard, Guarded, GuardedSink};
pub use kill_switch::KillSwitch;
pub use restart::{RestartSource, SourceGaveUp};
pub use timeouts::{CompletionTimedOut, FlowTimeoutExt, Idle};

pub use breaker::{Breaker, BreakerExt, BreakerSinkExt, BreakerState, InvalidBreaker};
pub use rate::{InvalidRate, KeyCounts, Limit, Rate, RateLimitExt, RateLimited};
