//! A batched, idempotent PostgreSQL sink for weir pipelines.
//!
//! [`PgSink`] stores each batch of rows in one transaction: the rows are
//! encoded in PostgreSQL's binary COPY format, copied into a temporary
//! staging table, then moved into the table with `INSERT … SELECT … ON
//! CONFLICT (key) DO NOTHING`. A row whose key is stored already is
//! absorbed and counted ([`PgCounters::duplicates`]), so a redelivered
//! item never makes a second row. The commit happens before `send`
//! returns, so the pipeline acknowledges items only once they are durable.
//! A failed batch is given back whole, classed transient (connection lost,
//! serialization failure, deadlock, too many connections) or permanent
//! ([`PgError`]), for a retry layer to try again or a dead-letter route to
//! keep.
//!
//! Any row type can be stored: implement [`PgRow`] (a [`Table`]
//! description and a `write` of the row's values). The ingest job's
//! [`weir_packet::Packet`] implements it (feature `packet`, on by default).
//!
//! # Why COPY into a staging table
//!
//! COPY is PostgreSQL's bulk path, several times faster than multi-row
//! `INSERT`s (about 211 k rows/s against 72 k rows/s on this project's
//! 2-core machine), but it cannot skip rows that conflict: one duplicate
//! key fails the whole COPY. Copying into a temporary table first, then
//! `INSERT … SELECT … ON CONFLICT DO NOTHING`, keeps COPY's speed and
//! makes the write idempotent.
//!
//! # Why tokio-postgres
//!
//! It speaks the binary COPY protocol directly ([`tokio_postgres::CopyInSink`]),
//! pipelines statements on one connection and has no compile-time query
//! machinery; sqlx's COPY support (`copy_in_raw`) takes the bytes as they
//! are, so the row encoding would be ours either way, and it brings a pool
//! and a runtime layer this sink does not need.
//!
//! # Examples
//!
//! A pipeline that stores packets, retries transient failures and
//! dead-letters the batches that still fail (it needs a running server):
//!
//! ```
//! use std::time::Duration;
//! use weir_core::prelude::*;
//! use weir_core::sink;
//! use weir_deadletter::SinkDeadLetterExt;
//! use weir_packet::{Packet, Reading};
//! use weir_postgres::PgSink;
//! use weir_retry::{RetryPolicy, RetrySinkExt};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = weir_testkit::postgres::TestServer::builder().fsync(false).start();
//! # let url = server.url();
//! let packets = (0..100_000u64).map(|i| Packet::new((i % 1000) as u32, i / 1000, i, [Reading::new(0, 1.0)]));
//! // url: "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
//! let store = PgSink::<Packet>::connect(&url).await?;
//! let counters = store.counters();
//! let policy = RetryPolicy::exponential(Duration::from_millis(50)).max_attempts(10);
//! let (dead_letters, _records) = sink::collect();
//! let report = Pipeline::from_iter(packets)
//!     .batch("batch", 10_000, Duration::from_millis(20))
//!     .sink_dead_lettering("store", store.retry(policy), dead_letters)
//!     .await?;
//! println!("{report}\n{counters:?}");
//! # Ok(())
//! # }
//! ```
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod error;
#[cfg(feature = "packet")]
mod packet;
mod row;
mod sink;
mod writer;

pub use error::PgError;
pub use row::{Column, PgRow, Table};
pub use sink::{PgCounters, PgSink, PgSinkBuilder};
pub use writer::{EncodeError, RowWriter};

/// tokio-postgres, whose types appear in this crate's API (`Type` in a
/// [`Table`], `ToSql` in [`RowWriter::field`], errors in [`PgError`]).
pub use tokio_postgres;
