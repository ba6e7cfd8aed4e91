//! The ingest job's parts: the frame generator, the TCP intake and the
//! `send` client. The pipeline itself is in `examples/ingest.rs`.

pub mod aggregate;
pub mod generator;
pub mod job;
pub mod progress;
pub mod raw;
pub mod send;
pub mod summary;
pub mod tcp;
