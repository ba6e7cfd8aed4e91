//! The gate: at most `limit` calls at once, the limit changed while calls
//! run (a lower limit takes effect as calls end).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    /// Permits to retire as calls end (the limit went down by more than
    /// was free).
    debt: AtomicU32,
    pub(crate) in_flight: AtomicU64,
}

/// One call's place; given back (or retired) when dropped.
pub(crate) struct Place<'a> {
    gate: &'a Gate,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Relaxed);
        let permit = self.permit.take().expect("held until dropped");
        let retire =
            self.gate.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1)).is_ok();
        if retire {
            permit.forget();
        }
    }
}

impl Gate {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit as usize)),
            debt: AtomicU32::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    /// Waits for a place; `on_wait` is called if the call has to wait.
    pub(crate) async fn enter(&self, on_wait: impl FnOnce()) -> Place<'_> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                on_wait();
                self.permits.clone().acquire_owned().await.expect("the gate's semaphore is never closed")
            }
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Place { gate: self, permit: Some(permit) }
    }

    /// The limit went from `from` to `to`.
    pub(crate) fn resize(&self, from: u32, to: u32) {
        if to > from {
            let mut more = to - from;
            // Pay the debt first: those permits were never retired.
            while more > 0
                && self.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1)).is_ok()
            {
                more -= 1;
            }
            self.permits.add_permits(more as usize);
            return;
        }
        let mut fewer = from - to;
        while fewer > 0 {
            match self.permits.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            fewer -= 1;
        }
        self.debt.fetch_add(fewer, Ordering::AcqRel);
    }
}
