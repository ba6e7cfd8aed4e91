//! The weir pipeline model.
//!
//! A [`Pipeline`] starts from any `Stream`, goes through named stages and
//! ends in a [`Sink`]. Between stages that cross a task, a bounded queue
//! gives backpressure; failures keep their item and must be handled before
//! a sink can be connected ([`Fallible`]); a run returns a [`Report`] that
//! checks conservation: every source item ends delivered, dead-lettered,
//! filtered, discarded, returned in an error, or (on a forced abort)
//! abandoned.
//!
//! Most users depend on the `weir` facade crate, which re-exports this one
//! together with fan-out, retry and dead-letter stages.
//!
//! ```
//! use weir_core::prelude::*;
//! use weir_core::sink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), RunError> {
//! let (sink, out) = sink::collect();
//! let report = Pipeline::from_iter(0..5).map("double", |x| x * 2).sink(sink).run().await?;
//! assert_eq!(out.take(), [0, 2, 4, 6, 8]);
//! assert!(report.is_conserved());
//! # Ok(())
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod ack;
pub mod chunk;
mod class;
mod control;
mod envelope;
mod error;
mod extensions;
mod failure;
mod gauge;
mod metrics;
pub mod operation;
mod panic;
mod pipeline;
mod plan;
pub mod poll;
mod report;
pub mod route;
mod run;
pub mod sink;
mod source;
mod stage;
mod sync;
pub mod time;
mod timing;

pub use ack::{Ack, Acks};
pub use class::{Classify, ErrorClass};
pub use control::RunControl;
pub use envelope::{Envelope, History, Meta};
pub use error::{BoxError, BuildError, RunError, StageError};
pub use failure::{Cause, ErasedFailure, Failure, Settled};
pub use metrics::{ATTEMPT_BUCKETS, GaugeOf, StageKind, StageMetrics, StageRef};
pub use operation::{Attempt, Operation, Verdict};
pub use panic::panic_message;
pub use pipeline::{Fallible, Pipeline};
pub use report::{Ending, Report, StageReport};
pub use route::FailureRoute;
pub use run::{DEFAULT_DRAIN_TIMEOUT, Monitor, PipelineHandle, PipelineStream, Runnable, Signals};
pub use sink::{Sink, SinkError};
pub use source::Source;
pub use stage::{EnvelopeStream, FallibleStage, FallibleStream, Stage, StageContext};
pub use timing::{Job, Latencies, StageTiming, WorkClock};
/// A future made part of a run by [`StageContext::track`] or
/// [`RunControl::track`] (tokio-util's task tracker).
pub use tokio_util::task::task_tracker::TrackedFuture;

/// The types most pipelines need, for a glob import.
///
/// It leaves out the names that `futures::prelude` also exports (the
/// `sink` module and the `Sink` trait's name), so that importing both
/// preludes just works; name them as `weir_core::sink` and
/// `weir_core::Sink`. The trait's methods are in scope all the same.
///
/// # Examples
///
/// ```
/// use futures::prelude::*;
/// use weir_core::prelude::*;
/// use weir_core::sink;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let (collect, out) = sink::collect();
/// Pipeline::from(stream::iter(0..3).map(|x| x * 2)).sink(collect).await?;
/// assert_eq!(out.take(), [0, 2, 4]);
/// # Ok(())
/// # }
/// ```
pub mod prelude {
    pub use crate::BuildError;
    pub use crate::sink::Sink as _;
    pub use crate::sink::SinkError;
    pub use crate::{
        Ack, Cause, Classify, Ending, Envelope, EnvelopeStream, ErrorClass, Failure, Fallible, FallibleStage,
        FallibleStream, Operation, Pipeline, PipelineHandle, PipelineStream, Report, RunControl, RunError,
        Runnable, Settled, Source, Stage, StageContext,
    };
}
