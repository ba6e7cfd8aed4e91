//! The dedup against a model, on a paused clock: with a budget that
//! holds every key, exactly the items whose key did not pass within the
//! TTL pass; with any budget, every item is delivered or counted as a
//! repeat, and the memory stays within the budget.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::sink;
use weir_shape::{Dedup, DedupExt};

/// Runs `(key, gap in ms)` through a dedup on a paused clock; returns the
/// keys delivered and the report.
fn run(items: &[(u8, u8)], ttl_ms: u64, budget: usize) -> (Vec<u8>, Report) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let items = items.to_vec();
    rt.block_on(async move {
        let source = futures::stream::iter(items).then(|(key, gap)| async move {
            tokio::time::sleep(Duration::from_millis(u64::from(gap))).await;
            key
        });
        let (out, stored) = sink::collect();
        let dedup = Dedup::by_key(|k: &u8| *k).ttl(Duration::from_millis(ttl_ms)).budget_bytes(budget);
        let report = Pipeline::new(source).dedup("dedup", dedup).sink(out).run().await.unwrap();
        (stored.take(), report)
    })
}

/// What passes: an item whose key did not pass in the last `ttl_ms`.
fn model(items: &[(u8, u8)], ttl_ms: u64) -> Vec<u8> {
    let (mut now, mut passed_at, mut out) = (0u64, HashMap::new(), Vec::new());
    for &(key, gap) in items {
        now += u64::from(gap);
        if passed_at.get(&key).is_none_or(|at| now >= at + ttl_ms) {
            passed_at.insert(key, now);
            out.push(key);
        }
    }
    out
}

fn gauge(report: &Report, name: &str) -> u64 {
    report.stage("dedup").unwrap().gauges.iter().find(|(n, _)| n == name).unwrap().1
}

proptest! {
    #[test]
    fn with_room_for_every_key_exactly_the_model_passes(
        items in prop::collection::vec((0u8..16, prop_oneof![3 => Just(0u8), 1 => 1u8..80]), 0..300),
        ttl_ms in 1u64..200,
    ) {
        let (delivered, report) = run(&items, ttl_ms, 1 << 20);
        prop_assert_eq!(&delivered, &model(&items, ttl_ms));
        prop_assert_eq!(report.filtered(), (items.len() - delivered.len()) as u64);
        prop_assert_eq!(gauge(&report, "dedup_duplicates"), report.filtered());
        prop_assert_eq!(gauge(&report, "dedup_evicted"), 0);
        prop_assert!(report.is_conserved(), "{}", report);
    }

    #[test]
    fn with_any_budget_everything_is_accounted_for_and_memory_stays_within_it(
        items in prop::collection::vec((any::<u8>(), prop_oneof![3 => Just(0u8), 1 => 1u8..80]), 0..400),
        ttl_ms in 1u64..500,
        budget in 256usize..4096,
    ) {
        let (delivered, report) = run(&items, ttl_ms, budget);
        prop_assert_eq!(report.delivered() + report.filtered(), items.len() as u64);
        prop_assert_eq!(delivered.len() as u64, report.delivered());
        prop_assert!(gauge(&report, "dedup_bytes") <= budget as u64, "{}", report);
        // Until the budget made it forget a key, it is exact.
        if gauge(&report, "dedup_evicted") == 0 {
            prop_assert_eq!(&delivered, &model(&items, ttl_ms));
        }
        prop_assert!(report.is_conserved(), "{}", report);
    }
}
