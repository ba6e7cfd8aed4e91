//! The byte budget from outside: the heap the dedup's keys take, as the
//! allocator counts it, stays within the budget (vector#20883: a dedup
//! sized by count used far more memory than its estimate).

use std::time::Duration;

use weir_core::prelude::*;
use weir_core::sink;
use weir_shape::{Dedup, DedupExt};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The peak heap of a run of `n` distinct string keys through a dedup
/// with `budget` (none: the same pipeline without a dedup), in bytes.
fn peak(n: usize, budget: Option<usize>) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let before = dhat::HeapStats::get();
    let after = rt.block_on(async move {
        let keys = (0..n).map(|i| format!("device-{i:0>24}"));
        let pipeline = Pipeline::from_iter(keys);
        let pipeline = match budget {
            Some(budget) => pipeline.dedup(
                "dedup",
                Dedup::by_key(|k: &String| k.clone())
                    .key_heap_bytes(|k: &String| k.capacity())
                    .ttl(Duration::from_secs(3600))
                    .budget_bytes(budget),
            ),
            None => pipeline.map("pass", |k| k),
        };
        pipeline.sink(sink::drain()).run().await.unwrap();
        dhat::HeapStats::get()
    });
    // max_bytes is the peak since the profiler started; each run starts
    // from the same live heap, and the runs go from smallest to largest.
    after.max_bytes as u64 - before.curr_bytes as u64
}

#[test]
fn the_keys_take_no_more_heap_than_the_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let n = 50_000;
    let without = peak(n, None);
    let (small, large) = (256 << 10, 4 << 20);
    let with_small = peak(n, Some(small));
    let with_large = peak(n, Some(large));
    eprintln!(
        "peak heap: no dedup {without} B; budget {small} B: {with_small} B; budget {large} B: {with_large} B"
    );
    // The dedup's keys add at most the budget to the pipeline's own peak.
    assert!(
        with_small <= without + small as u64,
        "budget {small}: peak {with_small}, without a dedup {without}"
    );
    assert!(
        with_large <= without + large as u64,
        "budget {large}: peak {with_large}, without a dedup {without}"
    );
    // And the measurement sees them: a larger budget is used.
    assert!(
        with_large > without + small as u64,
        "budget {large}: peak {with_large}, without a dedup {without}"
    );
}
