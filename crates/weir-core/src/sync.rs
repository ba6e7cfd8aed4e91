//! The synchronization primitives of the concurrency weir implements
//! itself (its sharded counters): std's, or loom's when built with
//! `--cfg weir_loom` for the model-checking tests (TESTING.md).

#[cfg(weir_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(weir_loom)]
pub(crate) use loom::sync::{Arc, Mutex};
#[cfg(not(weir_loom))]
pub(crate) use std::sync::atomic::AtomicU64;
#[cfg(not(weir_loom))]
pub(crate) use std::sync::{Arc, Mutex};
