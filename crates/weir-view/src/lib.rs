//! Watch a weir pipeline run.
//!
//! - [`Sampler`]: once a second (configurable), records per stage its
//!   counts and rates, queue depth and capacity, in-flight items against
//!   its concurrency, breaker state, busy, idle and backpressured time
//!   and p50/p99 latency, into a [`History`] of the last minutes.
//! - [`top`]: `weir top`, a terminal view of a running pipeline: the
//!   stage graph coloured by backpressure, a table to sort, filter and
//!   scroll, sparklines, the conservation line. In the same process
//!   ([`top::run`] over a [`History`]) or in another one, through its
//!   metrics endpoint (the `weir-top` program).
//! - [`html`]: a self-contained HTML report of a run, with inline SVG.
//!
//! ```
//! use weir_core::prelude::*;
//! use weir_core::sink;
//! use weir_view::Sampler;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Pipeline::from_iter(0..1000).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
//! let sampling = Sampler::new().start(handle.monitor())?;
//! let report = handle.join().await?;
//! let history = sampling.finish(&report);
//! let page = weir_view::html::render("doubling", &history.snapshot(), &report);
//! assert!(page.contains("<svg") && page.contains("double"));
//! # Ok(())
//! # }
//! ```

mod error;
mod history;
pub mod html;
mod sample;
mod sampler;
pub mod top;

pub use error::{AttachError, InvalidSampler};
pub use history::{History, Snapshot};
pub use sample::{Conservation, Sample, StageSample};
pub use sampler::{Sampler, Sampling};
