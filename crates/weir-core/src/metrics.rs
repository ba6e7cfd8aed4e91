//! Live per-stage counters, shared between a running pipeline and its handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::class::ErrorClass;
use crate::failure::Settled;

/// What a stage is, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageKind {
    /// Where items enter.
    Source,
    /// A transformation, filter or custom stage.
    Transform,
    /// Where items end.
    Sink,
}

/// Live counters of one stage. Every count is in source items (a batch of
/// 10 counts 10).
#[derive(Debug, Default)]
pub struct StageMetrics {
    pub(crate) received: AtomicU64,
    pub(crate) emitted: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) dead_lettered: [AtomicU64; 3],
    pub(crate) discarded: AtomicU64,
    pub(crate) returned: AtomicU64,
    pub(crate) delivered: AtomicU64,
}

fn class_index(class: ErrorClass) -> usize {
    match class {
        ErrorClass::Transient => 0,
        ErrorClass::Permanent => 1,
        ErrorClass::Poison => 2,
    }
}

impl StageMetrics {
    /// Counts `n` items taken in from upstream.
    pub fn record_received(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
    }

    /// Counts `n` items passed downstream.
    pub fn record_emitted(&self, n: u64) {
        self.emitted.fetch_add(n, Relaxed);
    }

    /// Counts `n` items dropped on purpose (a filter, a dedup).
    pub fn record_filtered(&self, n: u64) {
        self.filtered.fetch_add(n, Relaxed);
    }

    /// Counts one more attempt (a retry) for an item of `n` source items;
    /// `first_retry` is true on its first retry, to count retried items.
    pub fn record_retry(&self, n: u64, first_retry: bool) {
        self.retries.fetch_add(n, Relaxed);
        if first_retry {
            self.retried.fetch_add(n, Relaxed);
        }
    }

    /// Counts `n` items whose operation panicked (they are failures too).
    pub fn record_panic(&self, n: u64) {
        self.panicked.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_failed(&self, n: u64) {
        self.failed.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_returned(&self, n: u64) {
        self.returned.fetch_add(n, Relaxed);
    }

    pub(crate) fn settle(&self, outcome: Settled, class: ErrorClass, n: u64) {
        match outcome {
            Settled::DeadLettered => {
                self.dead_lettered[class_index(class)].fetch_add(n, Relaxed);
            }
            Settled::Discarded => {
                self.discarded.fetch_add(n, Relaxed);
            }
        }
    }

    pub(crate) fn dead_lettered_by_class(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.dead_lettered[i].load(Relaxed))
    }
}

/// A stage's identity (name and kind) and its live counters.
#[derive(Debug, Clone)]
pub struct StageRef(Arc<StageInfo>);

#[derive(Debug)]
struct StageInfo {
    name: String,
    kind: StageKind,
    metrics: StageMetrics,
}

impl StageRef {
    pub(crate) fn new(name: impl Into<String>, kind: StageKind) -> Self {
        Self(Arc::new(StageInfo { name: name.into(), kind, metrics: StageMetrics::default() }))
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The stage's kind.
    pub fn kind(&self) -> StageKind {
        self.0.kind
    }

    /// The stage's live counters.
    pub fn metrics(&self) -> &StageMetrics {
        &self.0.metrics
    }
}
