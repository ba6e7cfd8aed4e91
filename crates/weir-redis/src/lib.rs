//! Redis Streams for weir: many processes on many hosts share one
//! stream's entries through a consumer group, and each entry is
//! acknowledged only once its outcome is durable.
//!
//! - [`RedisSource`]: a member of a consumer group, as a weir
//!   [`Source`](weir_core::Source). Reads in batches, acknowledges
//!   (`XACK`) only after the sink committed an entry or the dead-letter
//!   sink stored it, reads its own pending entries again on start,
//!   reclaims the entries of consumers that died (`XAUTOCLAIM`), moves
//!   entries delivered too often to a dead-letter stream, and reconnects
//!   with backoff.
//! - [`RedisSink`]: adds items to a stream (`XADD`), pipelined, with
//!   optional `MAXLEN ~` trimming.
//!
//! # Why Redis Streams, and not a protocol of weir's own
//!
//! Scaling out needs a place where work waits, is leased to one consumer,
//! and comes back when that consumer dies. Redis Streams consumer groups
//! are that, in a server many teams already run: a pending-entries list
//! per group (the leases), XACK (the acknowledgement), idle time and
//! XAUTOCLAIM (redelivery after a consumer dies), and a delivery count
//! (poison detection). weir's end-to-end acknowledgements fit it as they
//! fit any broker with leases: Broadway's and Vector's model.
//!
//! # What holds
//!
//! - **At-least-once.** An entry is acknowledged only after its outcome
//!   is durable; a consumer that dies before that leaves it pending, and
//!   another consumer (or its own next start) delivers it again. So the
//!   store sees an entry twice after a crash, and must absorb duplicates
//!   (weir's SQLite and PostgreSQL sinks are idempotent by key).
//! - **Nothing lost on shutdown.** A graceful shutdown acknowledges what
//!   was stored and leaves the rest pending; a report is taken only once
//!   the last acknowledgement is confirmed.
//! - **Poison entries end.** An entry that keeps killing its consumers
//!   goes to the dead-letter stream after `max_deliveries` deliveries,
//!   with its context.
#![doc(test(no_crate_inject, attr(deny(warnings), allow(dead_code, unused_variables))))]

mod counters;
mod entry;
mod error;
mod link;
mod sink;
mod source;

pub use counters::RedisCounters;
pub use entry::Entry;
pub use error::RedisError;
pub use sink::{Fields, RedisSink};
pub use source::{RedisSource, StartId};
