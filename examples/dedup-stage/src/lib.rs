//! Example stage crate.
