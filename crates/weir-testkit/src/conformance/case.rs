//! One generated case: the items, when the source and the sink are
//! ready, and how the run ends.

use std::fmt;

use proptest::prelude::*;

/// How a case's run ends, and so which promises it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The input runs out and the pipeline completes.
    Complete,
    /// `shutdown()` after `at_ms` of virtual time: every item in flight
    /// must finish.
    Shutdown {
        /// When, in milliseconds of virtual time.
        at_ms: u32,
    },
    /// `shutdown()` after `at_ms`, with a drain deadline of `drain_ms` + 1
    /// milliseconds: what has not finished by then is abandoned, never
    /// acknowledged.
    Deadline {
        /// When, in milliseconds of virtual time.
        at_ms: u32,
        /// The drain deadline, less one millisecond.
        drain_ms: u8,
    },
    /// `abort()` after `at_ms`: items in flight are abandoned, never
    /// acknowledged.
    Abort {
        /// When, in milliseconds of virtual time.
        at_ms: u32,
    },
    /// The run's handle is dropped after `at_ms`: no task may outlive it.
    Drop {
        /// When, in milliseconds of virtual time.
        at_ms: u32,
    },
    /// The run's future (`run()`, not spawned) is dropped after `at_ms`:
    /// no task may outlive it either.
    DropRun {
        /// When, in milliseconds of virtual time.
        at_ms: u32,
    },
    /// The sink takes `after` items, then never completes another send:
    /// the stage must stop pulling within its bound.
    Stall {
        /// Items the sink takes before it stalls.
        after: usize,
    },
    /// A stage before the subject panics on the item at `at_item`: the
    /// run must end with the panic, every item accounted for.
    Panic {
        /// The index of the item whose processing panics.
        at_item: usize,
    },
}

/// A schedule the conformance suite runs the subject under: generated,
/// shrunk to a minimal one when a promise breaks, and printed in the
/// failure message.
#[derive(Clone)]
pub(crate) struct Case<T> {
    /// The source's items, in order.
    pub(crate) items: Vec<T>,
    /// Milliseconds the source waits before each item (cycled).
    pub(crate) source_gaps_ms: Vec<u8>,
    /// Milliseconds each send to the sink takes (cycled).
    pub(crate) sink_delays_ms: Vec<u8>,
    /// How the run ends.
    pub(crate) ending: End,
}

impl<T: fmt::Debug> fmt::Debug for Case<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("items", &self.items)
            .field("source_gaps_ms", &self.source_gaps_ms)
            .field("sink_delays_ms", &self.sink_delays_ms)
            .field("ending", &self.ending)
            .finish()
    }
}

impl<T> Case<T> {
    /// The source's wait before item `i`.
    pub(crate) fn gap_ms(&self, i: usize) -> u64 {
        cycled(&self.source_gaps_ms, i)
    }
}

/// `values[i]`, cycling; 0 when there are none.
pub(crate) fn cycled(values: &[u8], i: usize) -> u64 {
    if values.is_empty() { 0 } else { u64::from(values[i % values.len()]) }
}

impl End {
    /// One ending of each kind, early in the run: what a suite runs first,
    /// so that every promise is reached however few random cases follow.
    pub(crate) fn each() -> [End; 8] {
        [
            End::Complete,
            End::Shutdown { at_ms: 3 },
            End::Deadline { at_ms: 3, drain_ms: 1 },
            End::Abort { at_ms: 3 },
            End::Drop { at_ms: 3 },
            End::DropRun { at_ms: 3 },
            End::Stall { after: 0 },
            End::Panic { at_item: 0 },
        ]
    }
}

/// Cases over items from `items`, up to `max_items` of them.
pub(crate) fn cases<T: fmt::Debug + Clone + 'static>(
    items: BoxedStrategy<T>,
    max_items: usize,
) -> impl Strategy<Value = Case<T>> {
    let gaps = prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => 1..5u8], 0..4);
    let delays = prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => 1..5u8], 0..4);
    let ending = prop_oneof![
        2 => Just(End::Complete),
        1 => (0..200u32).prop_map(|at_ms| End::Shutdown { at_ms }),
        1 => (0..200u32, 0..6u8).prop_map(|(at_ms, drain_ms)| End::Deadline { at_ms, drain_ms }),
        1 => (0..200u32).prop_map(|at_ms| End::Abort { at_ms }),
        1 => (0..200u32).prop_map(|at_ms| End::Drop { at_ms }),
        1 => (0..200u32).prop_map(|at_ms| End::DropRun { at_ms }),
        1 => (0..max_items.max(1)).prop_map(|after| End::Stall { after }),
        1 => (0..max_items.max(1)).prop_map(|at_item| End::Panic { at_item }),
    ];
    (prop::collection::vec(items, 0..=max_items), gaps, delays, ending).prop_map(
        |(items, source_gaps_ms, sink_delays_ms, ending)| Case {
            items,
            source_gaps_ms,
            sink_delays_ms,
            ending,
        },
    )
}

impl Case<u32> {
    /// A case from a fuzzer's bytes: the item count and values, the gaps
    /// and delays, and the ending, each from the next bytes (zeros when
    /// they run out).
    pub(crate) fn from_bytes(bytes: &mut impl Iterator<Item = u8>, max_items: usize) -> Self {
        let mut next = move || bytes.next().unwrap_or(0);
        let count = usize::from(next()) % (max_items + 1);
        let items = (0..count).map(|_| u32::from(next())).collect();
        let gaps = next() % 4;
        let source_gaps_ms = (0..gaps).map(|_| next() % 5).collect();
        let delays = next() % 4;
        let sink_delays_ms = (0..delays).map(|_| next() % 5).collect();
        let (kind, at) = (next(), u32::from(next()));
        let index = (at as usize) % max_items.max(1);
        let ending = match kind % 8 {
            0 => End::Complete,
            1 => End::Shutdown { at_ms: at },
            2 => End::Abort { at_ms: at },
            3 => End::Drop { at_ms: at },
            4 => End::DropRun { at_ms: at },
            5 => End::Stall { after: index },
            6 => End::Deadline { at_ms: at, drain_ms: kind / 8 % 6 },
            _ => End::Panic { at_item: index },
        };
        Case { items, source_gaps_ms, sink_delays_ms, ending }
    }
}
