//! Stream shaping for weir pipelines.
//!
//! - [`Dedup`]: drops repeats of a key seen within a time limit
//!   ([`DedupExt::dedup`]), remembering keys within a byte budget counted
//!   as the allocator sees it, not a number of keys; repeats are counted
//!   and acknowledged, keys forgotten early to keep the budget are counted.
//! - [`Merge`]: one pipeline from many streams, added and removed while
//!   it runs (a server's connections), read fairly, each stream's items
//!   and errors counted under its name, an error failing only its stream.
//! - [`Window`]: keyed tumbling or sliding windows of processing or
//!   event time ([`WindowExt::window`]), each window folded into one
//!   [`Windowed`] with its key and bounds; late items are counted
//!   failures; the open windows are bounded; acknowledgements fire when a
//!   window's output is delivered.
//! - [`Router`]: a sink that sends each item to one of several sinks by
//!   predicate, exclusive, with an explicit route (or failure) for the
//!   items no route matches, and each route's count in the reports.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::prelude::*;
//! use weir_core::sink;
//! use weir_shape::{Dedup, DedupExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), RunError> {
//! let ids = [1u64, 2, 1, 3, 2, 4];
//! let dedup = Dedup::by_key(|id: &u64| *id).ttl(Duration::from_secs(30)).budget_bytes(1 << 20);
//! let report = Pipeline::from_iter(ids).dedup("dedup", dedup).sink(sink::drain()).run().await?;
//! assert_eq!((report.delivered(), report.filtered()), (4, 2));
//! # Ok(())
//! # }
//! ```

mod dedup;
mod merge;
mod route;
mod window;

pub use dedup::{Dedup, DedupExt, InvalidDedup, least_budget};
pub use merge::{InvalidMerge, Merge, MergeClosed, SourceFailed, SourceId, Sources};
pub use route::{RouteError, Router};
pub use window::{InvalidWindow, Keyed, Overflow, Window, WindowError, WindowExt, Windowed};
