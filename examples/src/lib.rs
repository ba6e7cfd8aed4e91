//! Shared helpers for the weir examples.

pub mod seed_errors;
