//! Gauges: readings that a stage's layers (a circuit breaker, a rate
//! limiter, an adaptive concurrency limit) publish into its reports.

use std::fmt;

use crate::sync::Mutex;

type Reader = Box<dyn Fn() -> u64 + Send + Sync>;

/// The gauges registered on one stage, read by each report.
#[derive(Default)]
pub(crate) struct Gauges(Mutex<Vec<(String, Reader)>>);

impl Gauges {
    pub(crate) fn add(&self, name: String, read: Reader) {
        let mut gauges = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A layer observed again (a stage built twice) replaces its reading.
        gauges.retain(|(existing, _)| *existing != name);
        gauges.push((name, read));
    }

    pub(crate) fn read(&self) -> Vec<(String, u64)> {
        let gauges = self.0.lock().unwrap_or_else(|e| e.into_inner());
        gauges.iter().map(|(name, read)| (name.clone(), read())).collect()
    }
}

impl fmt::Debug for Gauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gauges = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list().entries(gauges.iter().map(|(name, _)| name)).finish()
    }
}
