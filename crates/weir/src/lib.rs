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
//! use std::time::Duration;
//! use weir::prelude::*;
//! use weir::sink;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("device {0} is busy")]
//! struct Busy(u32);
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = |x: u32| async move { if x % 5 == 0 { Err(Busy(x)) } else { Ok(x * 10) } };
//! let policy = RetryPolicy::exponential(Duration::from_millis(10)).max_attempts(3);
//! let (dead, dead_letters) = sink::collect();
//! let (sink, stored) = sink::collect();
//! let report = Pipeline::from_iter(1..=10u32)
//!     .filter("skip-7", |x| *x != 7)
//!     .fan_out("store", FanOut::workers(4).capacity(16), store.retry(policy))
//!     .dead_letter(dead)
//!     .batch("batch", 100, Duration::from_millis(50))
//!     .sink(sink)
//!     .run()
//!     .await?;
//! assert_eq!(stored.take().concat().len(), 7);
//! let dead: Vec<u32> = dead_letters.take().into_iter().map(|r| *r.item()).collect();
//! assert_eq!(dead.len(), 2); // 5 and 10, after 3 attempts each
//! assert_eq!((report.delivered(), report.dead_lettered(), report.filtered()), (7, 2, 1));
//! assert!(report.is_conserved());
//! # Ok(())
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

pub use weir_core::*;

/// Bounded work-sharing fan-out: unordered, ordered, keyed, one operation per worker, broadcast (`weir-fanout`).
pub mod fanout {
    pub use weir_fanout::*;
}

/// Backoff policies, budgets and the retry layer (`weir-retry`).
pub mod retry {
    pub use weir_retry::*;
}

/// Dead letters: records, the dead-letter stage, the JSON-lines store and replay (`weir-deadletter`).
pub mod deadletter {
    pub use weir_deadletter::*;
}

/// Stream shaping: a fair merge of many sources, keyed windows, dedup with a time limit and a byte budget, routing to several sinks (`weir-shape`).
pub mod shape {
    pub use weir_shape::*;
}

/// Flow control: adaptive concurrency, circuit breakers that pause intake, rate limits, restartable sources, a kill switch, idle and completion timeouts (`weir-flow`).
pub mod flow {
    pub use weir_flow::*;
}

/// The PostgreSQL sink: batched, idempotent, one transaction per batch (`weir-postgres`; feature `postgres`).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres {
    pub use weir_postgres::*;
}

/// Redis Streams: a consumer-group source whose entries are acknowledged
/// once their outcome is durable, with reclaim and a dead-letter stream,
/// and a pipelined XADD sink (`weir-redis`; feature `redis`).
///
/// ```no_run
/// use std::time::Duration;
/// use weir::prelude::*;
/// use weir::redis::{Entry, RedisSource};
/// use weir::sink;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Run this on every host: each with its own consumer name.
/// let source = RedisSource::new("redis://10.0.0.5:6379/", "packets", "ingest", "host-a");
/// let report = Pipeline::from_source(source)
///     .map("size", |e: Entry| e.fields().len())
///     .batch("batch", 500, Duration::from_millis(20))
///     .sink(sink::drain())
///     .run_until(async { tokio::signal::ctrl_c().await.ok(); })
///     .await?;
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {
    pub use weir_redis::*;
}

/// The batched SQLite sink: WAL, one transaction per flush, idempotent
/// rows, writes on a thread of its own (`weir-sqlite`; feature `sqlite`).
///
/// ```
/// use std::time::Duration;
/// use weir::prelude::*;
/// use weir::sqlite::SqliteSink;
/// # use weir_packet::{Packet, Reading};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("ingest.db");
/// # let packets = vec![Packet::new(1, 1, 0, [Reading::new(0, 1.0)])];
/// let sink = SqliteSink::open(&path)?;
/// let counters = sink.counters();
/// Pipeline::from_iter(packets).batch("batch", 1_000, Duration::from_millis(50)).sink(sink).run().await?;
/// println!("stored {}, duplicates absorbed {}", counters.stored(), counters.duplicates());
/// # assert_eq!(counters.stored(), 1);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite {
    pub use weir_sqlite::*;
}

/// Test support for pipelines and stage crates (the `testkit` feature):
/// [`conformance`](weir_testkit::conformance) checks that a stage keeps
/// weir's promises, [`faults`](weir_testkit::faults) injects failures,
/// panics and hangs on a schedule, [`strategy`](weir_testkit::strategy)
/// draws items with their faults, [`assert_conserved`](weir_testkit::assert_conserved) explains a broken
/// conservation line.
///
/// A user's property test: whatever the faults, every item is delivered
/// or discarded, and the report says which.
///
/// ```
/// use proptest::prelude::*;
/// use weir::prelude::*;
/// use weir::sink;
/// use weir::testkit::faults::{Fault, FaultyOp, run_paused};
/// use weir::testkit::{assert_conserved, strategy::scripted};
///
/// proptest!(ProptestConfig::with_cases(16), |(items in scripted(0..100u32, 30))| {
///     let failing = items.iter().filter(|(_, f)| matches!(f, Fault::Fail | Fault::Panic)).count() as u64;
///     let report = run_paused(
///         Pipeline::from_iter(items.clone())
///             .fan_out("store", FanOut::workers(2).capacity(4), FaultyOp::scripted())
///             .discard_failures()
///             .sink(sink::drain())
///             .run(),
///     ).unwrap();
///     assert_conserved(&report);
///     prop_assert_eq!((report.delivered(), report.discarded()), (items.len() as u64 - failing, failing));
/// });
/// ```
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit {
    pub use weir_testkit::*;
}

/// The types most pipelines need, for a glob import.
pub mod prelude {
    pub use weir_core::prelude::*;
    pub use weir_deadletter::{DeadLetter, DeadLetterExt, JsonLines, SinkDeadLetterExt};
    pub use weir_fanout::{FanOut, FanOutExt, Lent};
    pub use weir_retry::{Jitter, RetryBudget, RetryExt, RetryPolicy, RetrySinkExt, TimeoutExt};
}

/// Watching a run: a sampler, `weir top` in the terminal and the HTML run
/// report (`weir-view`; feature `view`).
///
/// ```no_run
/// use std::time::Duration;
/// use weir::prelude::*;
/// use weir::sink;
/// use weir::view::Sampler;
/// use weir::view::top::{self, Feed};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let handle = Pipeline::from_iter(0..u64::MAX).map("double", |x| x * 2).sink(sink::drain()).spawn()?;
/// let sampling = Sampler::new().start(handle.monitor())?;
/// top::run(Feed::local(sampling.history()), Duration::from_millis(250)).await?;
/// let report = handle.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "view")]
#[cfg_attr(docsrs, doc(cfg(feature = "view")))]
pub mod view {
    pub use weir_view::*;
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
