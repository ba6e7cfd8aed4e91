//! A batched SQLite sink for weir pipelines: the default store of the
//! ingest job, and a store for your own rows.
//!
//! [`SqliteSink`] is a weir [`Sink`](weir_core::Sink) of `Vec<R>` batches,
//! for any row type `R` that implements [`SqliteRow`] (its table, its
//! insert, its values). The ingest job's telemetry
//! [`Packet`](weir_packet::Packet) is one (feature `packet`, on by
//! default).
//!
//! ```
//! use std::time::Duration;
//! use weir_core::prelude::*;
//! use weir_packet::{Packet, Reading};
//! use weir_retry::{RetryPolicy, RetrySinkExt};
//! use weir_sqlite::SqliteSink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let packets = (0..10_000u64).map(|seq| Packet::new((seq % 100) as u32, seq, 0, [Reading::new(0, 1.0)]));
//! let sink = SqliteSink::open(dir.path().join("ingest.db"))?;
//! let counters = sink.counters();
//! // A busy database (another writer) is retried; other errors are not.
//! let policy = RetryPolicy::exponential(Duration::from_millis(10)).max_attempts(8);
//! let report = Pipeline::from_iter(packets)
//!     .batch("batch", 1_000, Duration::from_millis(50))
//!     .sink(sink.retry(policy).classify_by_trait())
//!     .run()
//!     .await?;
//! assert_eq!(report.delivered(), 10_000);
//! assert_eq!((counters.stored(), counters.duplicates()), (10_000, 0));
//! # Ok(())
//! # }
//! ```
//!
//! # How it writes, and why
//!
//! - **A writer thread of its own.** SQLite is an in-process library whose
//!   calls block, and a connection is used by one thread at a time. The
//!   sink's connection lives on a dedicated thread for the sink's life,
//!   with its prepared statements; `send` and `flush` hand it work and
//!   await its answer, so the async workers never block on the disk.
//!   (`spawn_blocking` would move the connection to a pool thread and back
//!   for every call, and a dropped future would take it away.)
//! - **Batches, not rows.** Each hand-off to the writer thread costs a
//!   few microseconds, as much as an insert itself; one hand-off per batch
//!   of hundreds of rows makes it vanish. Put a
//!   [`batch`](weir_core::Pipeline::batch) stage before the sink.
//! - **One transaction per flush.** weir flushes a sink after each group
//!   of items that were ready together; the sink commits then. Under load
//!   the groups grow and each commit carries many batches (the per-commit
//!   cost disappears); when items trickle in, each batch commits at once
//!   (low latency). A transaction is capped at
//!   [`transaction_rows`](SqliteSinkBuilder::transaction_rows) rows.
//!   Acknowledgements fire only after the commit.
//! - **WAL, `synchronous = NORMAL`, a large `wal_autocheckpoint`.** A
//!   commit is then a few appends to the WAL, without a disk sync, and
//!   durable against a crash of the process (see [`Synchronous`] for power
//!   loss). The checkpoint interval matters most: with SQLite's default
//!   (every 1,000 pages) a hand-written loop of 1,000-row transactions ran
//!   at 34 k rows/s on a 2-core machine, and with 100,000 pages and
//!   10,000-row transactions at up to 300 k rows/s. This sink is measured
//!   against that loop (BENCHMARKS.md, "SQLite").
//! - **Prepared, cached statements.** The insert is prepared once; each
//!   row only binds its values and steps.
//!
//! # Idempotent rows and duplicates
//!
//! A pipeline delivers at least once: an item whose acknowledgement did
//! not fire comes again. A row type's insert is idempotent on its key
//! (`INSERT … ON CONFLICT (key) DO NOTHING`, see [`SqliteRow`]), so a
//! redelivered row is stored once, and [`SqliteCounters::duplicates`]
//! counts the rows it absorbed that way.
//!
//! # Errors, retries and dead letters
//!
//! A batch that cannot be inserted is rolled back and given back inside
//! the `SinkError`, with the class of its [`SqliteError`]: a busy or
//! locked database is transient, so `sink.retry(policy)` (weir-retry)
//! tries it again (with `.classify_by_trait()`, a failed commit is
//! classed the same way); anything else (a constraint, a read-only file) is
//! permanent, not retried, and goes to the sink's dead-letter route if
//! there is one, or ends the run with the batch returned. A failed commit
//! is rolled back too; the sink keeps the uncommitted batches and writes
//! them again at the next flush, so no row is lost or stored twice.
//!
//! # Why rusqlite and not sqlx
//!
//! rusqlite is a thin layer over SQLite's C API: statements prepared and
//! cached, values bound in place, nothing between a row and
//! `sqlite3_step`. sqlx's SQLite driver is async over the same blocking
//! library, by running each connection on a worker thread of its own and
//! sending it every statement through a channel with a reply: one thread
//! hand-off per executed statement, so per row, which is what this crate
//! avoids by handing over whole batches. An async API buys nothing for an
//! in-process database that a dedicated thread does not already give.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod builder;
mod counters;
mod error;
#[cfg(feature = "packet")]
mod packet;
mod row;
mod sink;
mod writer;

pub use builder::{SqliteSinkBuilder, Synchronous};
pub use counters::SqliteCounters;
pub use error::SqliteError;
pub use row::SqliteRow;
pub use sink::SqliteSink;

/// The rusqlite this crate is built on, for [`SqliteRow::bind`]'s
/// `Statement` and for reading the table back.
///
/// ```
/// use weir_sqlite::rusqlite;
///
/// let db = rusqlite::Connection::open_in_memory()?;
/// let one: i64 = db.query_row("SELECT 1", [], |r| r.get(0))?;
/// assert_eq!(one, 1);
/// # Ok::<(), rusqlite::Error>(())
/// ```
pub use rusqlite;
