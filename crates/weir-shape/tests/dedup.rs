//! The dedup from outside, on a paused clock: what passes and when, what
//! is counted and acknowledged, and how the budget is kept.

use std::time::Duration;

use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink;
use weir_shape::{Dedup, DedupExt};
use weir_testkit::AckLog;

/// `(key, gap before it in ms)` as a paused-clock stream.
fn arriving(items: Vec<(u32, u64)>) -> impl futures::Stream<Item = u32> + Send + 'static {
    futures::stream::iter(items).then(|(key, gap)| async move {
        tokio::time::sleep(Duration::from_millis(gap)).await;
        key
    })
}

fn gauge(report: &Report, name: &str) -> u64 {
    let stage = report.stage("dedup").expect("the dedup stage");
    stage.gauges.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect("the gauge")
}

#[tokio::test(start_paused = true)]
async fn repeats_within_the_ttl_are_dropped_counted_and_acknowledged() {
    let acks: AckLog<usize> = AckLog::default();
    let items = arriving(vec![(1, 0), (2, 10), (1, 10), (1, 50), (2, 50), (1, 100)]);
    let acked = items.enumerate().map({
        let acks = acks.clone();
        move |(i, key)| (key, acks.ack(i))
    });
    let (out, stored) = sink::collect();
    let report = Pipeline::from_acked(acked)
        .dedup("dedup", Dedup::by_key(|k: &u32| *k).ttl(Duration::from_millis(100)))
        .sink(out)
        .run()
        .await
        .unwrap();
    // 1 at 0 ms; 2 at 10; 1 at 20 (repeat); 1 at 70 (repeat); 2 at 120
    // (110 ms after it passed); 1 at 220 (220 ms after it passed).
    assert_eq!(stored.take(), [1, 2, 2, 1]);
    assert_eq!((report.delivered(), report.filtered()), (4, 2));
    assert_eq!(gauge(&report, "dedup_duplicates"), 2);
    assert_eq!(acks.fired().len(), 6, "a repeat's outcome is final: acknowledged");
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_budget_too_small_for_the_keys_forgets_the_oldest_and_says_so() {
    let budget = 2048;
    let keys = (0..5_000u32).chain(0..5_000u32);
    let report = Pipeline::from_iter(keys)
        .dedup("dedup", Dedup::by_key(|k: &u32| *k).budget_bytes(budget))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    // The second round's keys were forgotten to keep the budget: they pass.
    assert_eq!(report.delivered(), 10_000);
    assert!(gauge(&report, "dedup_evicted") >= 9_000, "{report}");
    assert!(gauge(&report, "dedup_bytes") <= budget as u64, "{report}");
    assert!(gauge(&report, "dedup_keys") > 10, "it still remembers what fits: {report}");
}

#[tokio::test(start_paused = true)]
async fn string_keys_count_their_heap_bytes() {
    let ids: Vec<String> = (0..200).map(|i| format!("message-{i:0>40}")).collect();
    let report = Pipeline::from_iter(ids)
        .dedup("dedup", Dedup::by_key(|id: &String| id.clone()).key_heap_bytes(|id: &String| id.capacity()))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    // Each key is kept twice, so at least 2 × 48 bytes of heap each.
    assert!(gauge(&report, "dedup_bytes") >= 200 * 2 * 48, "{report}");
    assert_eq!(gauge(&report, "dedup_keys"), 200);
}

#[tokio::test]
async fn bad_settings_are_refused_when_the_pipeline_is_built() {
    for (dedup, says) in [
        (Dedup::by_key(|k: &u32| *k).ttl(Duration::ZERO), "TTL is zero"),
        (Dedup::by_key(|k: &u32| *k).budget_bytes(16), "raise it"),
    ] {
        let err =
            Pipeline::from_iter(0..3u32).dedup("dedup", dedup).sink(sink::drain()).run().await.unwrap_err();
        assert!(matches!(err, RunError::Build(_)), "{err}");
        assert!(err.to_string().contains(says) && err.to_string().contains("dedup"), "{err}");
    }
}
