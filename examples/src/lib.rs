//! The logic of the weir examples, kept here so that tests can run it.

pub mod ingest;
pub mod seed_basic;
pub mod seed_consumers;
pub mod seed_errors;
