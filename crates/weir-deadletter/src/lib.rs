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
//! use weir_deadletter::DeadLetterExt;
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
//! let (dead, records) = sink::collect();
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
//! # A store is a sink of records
//!
//! Where dead letters go is any core [`Sink`](weir_core::Sink) of
//! [`DeadLetter`] records, the same trait as a pipeline's own sink: `send`
//! takes a record (or gives it back with an error), `flush` makes the
//! records sent so far durable. So every sink adapter serves: a
//! [`JsonLines`] file, `sink::collect()` in memory (for tests),
//! `sink::from_futures` over a channel to another task, a table of your
//! own, and a `BoxSink` when the store is chosen at run time:
//!
//! ```
//! use weir_core::prelude::*;
//! use weir_core::sink::{self, BoxSink};
//! use weir_deadletter::{DeadLetter, DeadLetterExt, JsonLines};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("{0} is odd")]
//! struct Odd(u32);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let path = std::env::temp_dir().join(format!("weir-doc-choose-{}.jsonl", std::process::id()));
//! # let _ = std::fs::remove_file(&path);
//! // In a program: `--dead-letters FILE` on the command line, or nothing.
//! let flag: Option<&std::path::Path> = Some(&path);
//! let (memory, in_memory) = sink::collect();
//! let store: BoxSink<DeadLetter<u32>> = match flag {
//!     Some(file) => BoxSink::new(JsonLines::open(file)?),
//!     None => BoxSink::new(memory),
//! };
//! let report = Pipeline::from_iter(0..4u32)
//!     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
//!     .dead_letter(store)
//!     .sink(sink::drain())
//!     .run()
//!     .await?;
//! assert_eq!(report.dead_lettered(), 2);
//! assert!(in_memory.is_empty());
//! assert_eq!(weir_deadletter::replay::<u32>(&path).load()?.records.len(), 2);
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! ```
//!
//! A store that fails now and then is tried again by the stage (10 times
//! by default, see [`DeadLetterOptions::store_attempts`]), or by a retry
//! layer around it (weir-retry's `store.retry(policy)`), like any sink.
//!
//! # What this crate has
//!
//! - the dead-letter stage, [`DeadLetterExt::dead_letter`], which sends
//!   failures' records to a store a group at a time, tries a failing store
//!   again and, if it stays down, ends the run with a typed error instead
//!   of dropping anything ([`DeadLetterError`]); and
//!   [`SinkDeadLetterExt::sink_dead_lettering`], the same for the items a
//!   pipeline's sink gives back;
//! - the record, [`DeadLetter`], serializable with serde;
//! - [`JsonLines`], a store that appends one record per line to a file,
//!   and never writes a record that would not read back;
//! - [`replay`], which reads a JSON-lines file back, lazily, as a source
//!   of the original items with their failure history; a line that is not
//!   a record is reported on its own ([`BadLine`]) and the replay goes on.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod error;
mod ext;
mod json_lines;
mod options;
mod record;
mod replay;
mod route;
mod writer;

pub use error::{BadLine, BadLineKind, DeadLetterError, ReplayError};
pub use ext::{DeadLetterExt, SinkDeadLetterExt};
pub use json_lines::{JsonLines, JsonLinesError};
pub use options::{DEFAULT_MAX_BATCH, DEFAULT_STORE_ATTEMPTS, DeadLetterOptions};
pub use record::DeadLetter;
pub use replay::{Loaded, REPLAY_STAGE, Replay, ReplayLine, ReplayStream, replay};
