//! The byte budget from outside: the heap the dedup's keys take, as the
//! allocator counts it, stays within the budget (vector#20883: a dedup
//! sized by count used far more memory than its estimate), with keys
//! that own heap bytes, and with small keys churning through expiry and
//! eviction (removals leave tombstones in the key set's table).

use std::time::Duration;

use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink;
use weir_shape::{Dedup, DedupExt};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The peak heap of a run through `stage` (a dedup, or the same pipeline
/// with a plain map in its place), above the live heap before it.
fn peak<T: Send + 'static>(
    items: impl Iterator<Item = T> + Send + 'static,
    every: Option<Duration>,
    stage: impl FnOnce(Pipeline<T>) -> Pipeline<T>,
) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let before = dhat::HeapStats::get();
    let after = rt.block_on(async move {
        let source = futures::stream::iter(items).then(move |item| async move {
            if let Some(every) = every {
                tokio::time::sleep(every).await;
            }
            item
        });
        stage(Pipeline::new(source)).sink(sink::drain()).run().await.unwrap();
        dhat::HeapStats::get()
    });
    // max_bytes is the peak since the profiler started; the runs go from
    // the smallest peak to the largest.
    after.max_bytes as u64 - before.curr_bytes as u64
}

#[test]
fn the_keys_take_no_more_heap_than_the_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // Small keys churning: u16 ids, each remembered for 3 ms, one arriving
    // every millisecond, most of them repeats of recent ones.
    let ids = || (0..20_000u32).map(|i| ((i * 7919) % 3000) as u16);
    let every = Some(Duration::from_millis(1));
    let plain = peak(ids(), every, |p| p.map("pass", |k| k));
    let budget = 4096;
    let churn = peak(ids(), every, move |p| {
        p.dedup("dedup", Dedup::by_key(|k: &u16| *k).ttl(Duration::from_millis(3)).budget_bytes(budget))
    });
    eprintln!("churning u16 keys: no dedup {plain} B; budget {budget} B: {churn} B");
    assert!(churn <= plain + budget as u64, "budget {budget}: peak {churn}, without a dedup {plain}");

    // String keys that own heap bytes, never expiring within the run.
    let names = || (0..50_000usize).map(|i| format!("device-{i:0>24}"));
    let without = peak(names(), None, |p| p.map("pass", |k| k));
    let dedup = |budget: usize| {
        move |p: Pipeline<String>| {
            p.dedup(
                "dedup",
                Dedup::by_key(|k: &String| k.clone())
                    .key_heap_bytes(|k: &String| k.capacity())
                    .ttl(Duration::from_secs(3600))
                    .budget_bytes(budget),
            )
        }
    };
    let (small, large) = (256 << 10, 4 << 20);
    let with_small = peak(names(), None, dedup(small));
    let with_large = peak(names(), None, dedup(large));
    eprintln!(
        "string keys: no dedup {without} B; budget {small} B: {with_small} B; budget {large} B: {with_large} B"
    );
    assert!(
        with_small <= without + small as u64,
        "budget {small}: peak {with_small}, without a dedup {without}"
    );
    assert!(
        with_large <= without + large as u64,
        "budget {large}: peak {with_large}, without a dedup {without}"
    );
    // And the measurement sees the keys: a larger budget is used.
    assert!(
        with_large > without + small as u64,
        "budget {large}: peak {with_large}, without a dedup {without}"
    );
}
