//! Dead letters for weir pipelines: failures kept whole, routed, stored
//! and replayable.
//!
//! # Why dead letters
//!
//! In the classic consumer loop a failed item is printed and lost. In weir
//! a fallible stage (`try_map`, `try_then`, a fan-out with retries) keeps
//! every failed item whole, inside a [`Failure`](weir_core::Failure) with
//! its error, class, attempts, stage and times, and the pipeline cannot
//! reach a sink until it says what happens to failures. There are three
//! answers; this crate provides the first:
//!
//! | | dead-letter | halt | discard |
//! |---|---|---|---|
//! | call | [`.dead_letter(sink)`](DeadLetterExt::dead_letter) | `.halt_on_error()` | `.discard_failures()` |
//! | the failed item | stored, as a [`DeadLetter`] record | returned in the run's error | dropped |
//! | the run | goes on | stops intake, drains, returns `RunError::Halted` | goes on |
//! | in the report | `dead_lettered` (per stage and class) | `returned` | `discarded` |
//! | acknowledged | once the record is stored | no (redelivered) | yes |
//! | use it when | failures must be kept and reprocessed later | any failure is a bug | failures do not matter, and you can say so |
//!
//! The same pipeline, three ways:
//!
//! ```
//! use weir_core::prelude::*;
//! use weir_core::sink;
//! use weir_deadletter::{DeadLetterExt, memory};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("{0:?} is not a number")]
//! struct NotANumber(String);
//!
//! fn parse(s: String) -> Result<u32, NotANumber> {
//!     s.parse().map_err(|_| NotANumber(s))
//! }
//!
//! fn input() -> Pipeline<String> {
//!     Pipeline::from_iter(["1", "x", "3"].map(String::from))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), RunError> {
//! // 1. Dead-letter: store the failure, go on.
//! let (dead, records) = memory();
//! let report = input().try_map("parse", parse).dead_letter(dead).sink(sink::drain()).run().await?;
//! assert_eq!((report.delivered(), report.dead_lettered()), (2, 1));
//! assert_eq!(records.take()[0].error(), r#""x" is not a number"#);
//!
//! // 2. Halt: stop at the first failure and return it.
//! let err = input().try_map("parse", parse).halt_on_error().sink(sink::drain()).run().await.unwrap_err();
//! let RunError::Halted { failures, .. } = err else { unreachable!() };
//! assert_eq!(failures[0].message(), r#""x" is not a number"#);
//!
//! // 3. Discard: drop it, counted.
//! let report = input().try_map("parse", parse).discard_failures().sink(sink::drain()).run().await?;
//! assert_eq!((report.delivered(), report.discarded()), (2, 1));
//! # Ok(())
//! # }
//! ```
//!
//! # What this crate has
//!
//! - the dead-letter stage, [`DeadLetterExt::dead_letter`], which batches
//!   failures into a [`DeadLetterSink`], retries the sink with a
//!   [`weir_retry::RetryPolicy`] and, if the sink stays down, ends the run
//!   with a typed error instead of dropping anything ([`DeadLetterError`]);
//! - the record, [`DeadLetter`], serializable with serde;
//! - sinks: [`JsonLines`] (a file, one record per line), [`memory`] (for
//!   tests) and [`from_futures`] (any `futures::Sink` of records);
//! - [`replay`], which reads a JSON-lines file back, lazily, as a source
//!   of the original items with their failure history; a line that is not
//!   a record is reported on its own ([`BadLine`]) and the replay goes on.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod error;
mod ext;
mod options;
mod record;
mod replay;
mod route;
mod sink;
mod writer;

pub use error::{BadLine, BadLineKind, DeadLetterError, ReplayError};
pub use ext::{DeadLetterExt, SinkDeadLetterExt};
pub use options::{DEFAULT_MAX_BATCH, DeadLetterOptions};
pub use record::DeadLetter;
pub use replay::{Loaded, REPLAY_STAGE, Replay, ReplayLine, ReplayStream, replay};
pub use sink::{
    DeadLetterSink, FromFutures, JsonLines, JsonLinesError, Memory, MemoryRecords, StoreError, from_futures,
    memory,
};
