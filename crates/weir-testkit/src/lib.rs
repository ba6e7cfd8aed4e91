//! Test support for weir: pipeline shapes as data, a model of what they
//! must do, fault-injecting sinks, an acking source and assertions.
//!
//! - [`PipelineSpec`] describes a pipeline (items and stages) as plain data.
//!   [`strategy::pipeline_spec`] generates them for proptest,
//!   [`PipelineSpec::from_bytes`] decodes them from fuzzer input.
//! - [`expected`] is the model: a direct, synchronous simulation that says
//!   which items must be delivered and how many are filtered, discarded or
//!   returned. [`run_spec`] builds the real weir pipeline and runs it;
//!   [`check_spec`] runs it, compares it with the model and checks
//!   conservation.
//! - [`postgres::TestServer`] starts a throw-away PostgreSQL server (as
//!   the `postgres` user when run as root) for every PostgreSQL test.
//! - [`redis::RedisServer`] starts a throw-away `redis-server` for every
//!   Redis test; [`netns::Hosts`] makes network namespaces for tests that
//!   need several hosts.
//! - [`conformance`] checks that a stage (or a sink) keeps the promises
//!   every weir stage makes, in one call from its own tests.
//! - [`faults::FaultyOp`] is an operation that fails, panics, hangs or
//!   waits on a schedule (with [`strategy::scripted`] items, a property
//!   test knows what each item must become); [`faults::run_paused`] runs
//!   a test body on a paused clock.
//! - [`FlakySink`] fails sends on a pattern and gives the item back;
//!   [`AckingSource`] records which acknowledgements fired;
//!   [`assert_conserved`] explains a broken conservation line.
//!
//! ```
//! use weir_testkit::{PipelineSpec, StageSpec, OnFailure, check_spec};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec = PipelineSpec {
//!     items: (0..20).collect(),
//!     stages: vec![
//!         StageSpec::Filter { modulus: 3, residue: 0 },
//!         StageSpec::Batch { max_items: 4 },
//!         StageSpec::TryMap { modulus: 5, residue: 1, on_failure: OnFailure::Discard },
//!     ],
//! };
//! let outcome = check_spec(&spec).await.unwrap();
//! assert_eq!(outcome.taken, 20);
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod ack;
mod assert;
pub mod conformance;
pub mod faults;
mod flaky;
mod model;
pub mod netns;
pub mod postgres;
pub mod redis;
mod run;
pub mod sim;
mod spec;
pub mod strategy;

pub use ack::{AckLog, AckingSource};
pub use assert::assert_conserved;
pub use flaky::{Flaked, FlakySink};
pub use model::{Outcome, expected};
pub use run::{check_spec, check_spec_blocking, run_spec};
pub use spec::{OnFailure, PipelineSpec, StageSpec};
