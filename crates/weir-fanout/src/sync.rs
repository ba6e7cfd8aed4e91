//! The synchronization primitives of the concurrency the fan-out
//! implements itself (a lent item's way home): std's, or loom's when
//! built with `--cfg weir_loom` for the model-checking tests (TESTING.md).
//!
//! The rest of the fan-out's synchronization is not model-checked here:
//! the queue between the feeder and the workers
//! ([`dispatch`](crate::dispatch)) keeps all its state behind one
//! `Mutex` (every transition is made whole under the lock, so there is no
//! interleaving inside one to explore) and wakes workers with tokio's
//! `Notify`, which loom cannot drive outside tokio's own build; the
//! ordered reorder window and the keyed hold-back live on single tasks.
//! The property tests (`tests/props.rs`, `tests/work_sharing.rs`) and the
//! conformance suite check them under random schedules instead.

#[cfg(weir_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(weir_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
