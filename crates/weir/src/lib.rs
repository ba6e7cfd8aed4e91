//! weir: async stream-processing operators.
//!
//! Producers are `futures::Stream`s, consumers are sinks, and stages in
//! between give bounded fan-out, retries and dead letters, composed
//! declaratively into a [`Pipeline`]. Every boundary is bounded
//! (backpressure), failures keep their item and cannot be ignored quietly,
//! every task belongs to its pipeline, and a run returns a [`Report`] that
//! checks that no item was lost.
//!
//! ```
//! use weir::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), RunError> {
//! let (sink, out) = sink::collect();
//! let report = Pipeline::from_iter(1..=5)
//!     .map("square", |x| x * x)
//!     .filter("odd", |x| x % 2 == 1)
//!     .sink(sink)
//!     .run()
//!     .await?;
//! assert_eq!(out.take(), [1, 9, 25]);
//! assert!(report.is_conserved());
//! # Ok(())
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

pub use weir_core::*;

/// The types most pipelines need, for a glob import.
pub mod prelude {
    pub use weir_core::prelude::*;
}
