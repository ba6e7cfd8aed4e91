//! Backoff policies, retry budgets and a retry layer for weir operations
//! that never blocks a worker.
//!
//! A [`RetryPolicy`] decides, after each failed attempt, whether the item is
//! tried again and after what delay: constant or exponential backoff
//! (saturating at a cap, never overflowing), [`Jitter`] with a seedable
//! random source (a stream per item, drawn without a lock), a maximum
//! number of attempts, a maximum elapsed time counted from the *first*
//! attempt, and a [`RetryBudget`]. It is one type, whatever the errors.
//!
//! [`RetryExt::retry`] wraps any [`Operation`](weir_core::Operation) in a
//! [`Retry`], which is an operation too, and [`RetrySinkExt::retry`] wraps
//! a sink. The layer, which knows the error type, classifies errors with a
//! [`Classifier`]: every error is retried by default;
//! [`Retry::classify`] takes a closure over the error and
//! [`Retry::classify_by_trait`] the error's own
//! [`Classify`](weir_core::Classify) impl. Transient errors are retried,
//! permanent and poison ones fail at once; an error may ask for its own
//! delay, bounded by the cap. The policy only *decides*; the
//! runner waits. A weir fan-out parks a failed item on a timer and lets its
//! worker serve other items meanwhile; [`Retry::call`] sleeps between
//! attempts, for use outside a pipeline. [`TimeoutExt::timeout`] bounds
//! each attempt in time: `op.timeout(d).retry(policy)`.
//!
//! ```
//! use std::time::Duration;
//! use weir_retry::{Jitter, RetryExt, RetryPolicy};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("no such id: {0}")]
//! struct NotFound(u32);
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = RetryPolicy::exponential(Duration::from_millis(50))
//!     .jitter(Jitter::Full)
//!     .max_attempts(4);
//! let lookup = |id: u32| async move { if id > 0 { Ok(id * 2) } else { Err(NotFound(id)) } };
//! let retried = lookup.retry(policy);
//! assert_eq!(retried.call(21).await?, 42);
//! assert_eq!(retried.call(0).await.unwrap_err().exhausted().map(|e| e.attempts), Some(4));
//! # Ok(())
//! # }
//! ```
//!
//! # Why budgets, and not only a maximum number of attempts?
//!
//! `max_attempts` bounds the work for *one* item, not the load on the
//! dependency. When a database falls over, every caller's every item is
//! retried `max_attempts − 1` times: the dependency sees its traffic
//! multiplied by `max_attempts` exactly when it can least take it, and the
//! retries keep it down (a retry storm). Backoff spreads the retries out
//! but does not reduce their number.
//!
//! A [`RetryBudget`] bounds the retries *in proportion to the traffic*:
//! retries may be at most a fraction (say 20 %) of first attempts over a
//! sliding window, plus a small floor so that a quiet service can still
//! retry. While failures are rare every failure is retried; when everything
//! fails, the extra load is capped at 20 % and failing items fail at once
//! with [`Verdict::GiveUp`](weir_core::Verdict::GiveUp) and the reason
//! [`RetryBudget::EXHAUSTED`] (the cause "retry budget exhausted; last
//! error: …" in the dead-letter record). This is
//! Finagle's retry budget and tower's `TpsBudget`. Clones of a policy share
//! its budget, so one budget covers every worker of a fan-out.
//!
//! # Using a policy without the layer
//!
//! Code that runs its own attempts (a sink that retries its own
//! writes, for instance) checks the policy once with
//! [`RetryPolicy::validate`], then calls [`RetryPolicy::decide`] after each
//! failure, and [`RetryPolicy::deposit`] before each attempt when it uses a
//! budget.
//!
//! # One way to report bad settings
//!
//! A policy is a plain value: `RetryPolicy::exponential(d).max_attempts(5)`
//! is the policy, with nothing to build or unwrap, so settings read from a
//! file or flags go straight into it. A knob given a value that cannot
//! work is kept, and reported where the policy is used, as every weir
//! setting is: a pipeline's `run()` or `spawn()` returns
//! [`BuildError::Invalid`](weir_core::BuildError::Invalid) naming the stage
//! of the retry layer (an operation's or a sink's), with a message that
//! says what to change, before anything runs. Outside a pipeline,
//! [`Retry::call`] returns [`RetryError::InvalidPolicy`] without making an
//! attempt. Nothing panics.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::Operation;
//! use weir_retry::{RetryExt, RetryPolicy};
//!
//! let store = |row: u32| async move { Ok::<_, std::io::Error>(row) };
//! let from_flags = RetryPolicy::exponential(Duration::from_millis(10)).max_attempts(0);
//! let err = store.retry(from_flags).validate("store").unwrap_err();
//! assert_eq!(err.to_string(), "stage `store`: max_attempts is 0: allow at least 1 attempt (1 means no retries)");
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod backoff;
mod budget;
mod classify;
mod draws;
pub mod error;
mod jitter;
mod knobs;
mod layer;
mod policy;
mod sink;
mod timeout;
mod timeout_layer;

pub use budget::RetryBudget;
pub use classify::{AllTransient, ByClassify, Classifier, ClassifyFn};
pub use error::{AttemptError, Elapsed, InvalidPolicy, RetryError};
pub use jitter::Jitter;
pub use layer::{Retry, RetryExt};
pub use policy::RetryPolicy;
pub use sink::{RetrySink, RetrySinkExt};
pub use timeout::AttemptFuture;
pub use timeout_layer::{Timeout, TimeoutExt};
