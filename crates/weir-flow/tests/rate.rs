//! Rate limits from outside, on a paused clock: when each item passes,
//! per-key quotas and costs, what is refused and counted, and memory
//! bounded with many keys.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_flow::{Limit, Rate, RateLimitExt, RateLimited};

/// Runs `items` (each after its gap) through `build`, and returns when
/// each reached the sink, from the start.
async fn pass_times<T: Send + 'static>(
    items: Vec<(T, Duration)>,
    build: impl FnOnce(Pipeline<T>) -> Pipeline<T>,
) -> (Vec<Duration>, Report) {
    let start = Instant::now();
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = times.clone();
    let source = futures::stream::iter(items).then(|(item, gap)| async move {
        tokio::time::sleep(gap).await;
        item
    });
    let report = build(Pipeline::new(source))
        .inspect("clock", move |_| seen.lock().unwrap().push(start.elapsed()))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    let times = times.lock().unwrap().clone();
    (times, report)
}

fn at_once<T>(items: impl IntoIterator<Item = T>) -> Vec<(T, Duration)> {
    items.into_iter().map(|x| (x, Duration::ZERO)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_throttle_lets_a_burst_through_then_the_steady_rate() {
    let limit = Limit::new(Rate::per_second(20).burst(5));
    let (times, report) = pass_times(at_once(0..25u32), |p| p.throttle("20/s", limit.clone())).await;
    let expected: Vec<Duration> =
        (0..25u64).map(|i| Duration::from_millis(50 * i.saturating_sub(4))).collect();
    assert_eq!(times, expected);
    assert_eq!(report.delivered(), 25);
    let gauges = &report.stage("20/s").unwrap().gauges;
    assert!(gauges.contains(&("rate_waited".to_owned(), 20)), "{gauges:?}");
    // Each waits 50 ms for its turn (the ones behind it wait in the queue
    // before it, not in the limiter).
    assert!(gauges.contains(&("rate_wait_ms".to_owned(), 20 * 50)), "{gauges:?}");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_time_refills_the_bucket() {
    let limit = Limit::new(Rate::per_second(10).burst(3));
    // Three at once, then a second's quiet, then three again: none waits.
    let mut items = at_once(0..3u32);
    items.push((3, Duration::from_secs(1)));
    items.extend(at_once(4..6u32));
    let (times, _) = pass_times(items, |p| p.throttle("10/s", limit.clone())).await;
    assert_eq!(times, [0, 0, 0, 1000, 1000, 1000].map(Duration::from_millis));
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_bucket_and_quota() {
    // Device 1 may send 10/s, the others 2/s; bursts of 1.
    let limit = Limit::new(Rate::per_second(2).burst(1)).per_key(|r: &(u32, u32)| r.0).quota(|device| {
        if *device == 1 { Rate::per_second(10).burst(1) } else { Rate::per_second(2).burst(1) }
    });
    let readings: Vec<(u32, u32)> = (0..4).map(|i| (1, i)).chain((0..2).map(|i| (2, i))).collect();
    let (times, _) = pass_times(at_once(readings), |p| p.throttle("per device", limit.clone())).await;
    // Device 1: 0, 100, 200, 300 ms; then device 2's first at once (its
    // bucket is full), its second 500 ms later.
    assert_eq!(times, [0, 100, 200, 300, 300, 800].map(Duration::from_millis));
    assert_eq!(limit.key_counts(&1).unwrap().waited, 3);
    assert_eq!(limit.key_counts(&2).unwrap().waited, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cost_takes_that_many_units() {
    // 1,000 bytes a second, in bursts of 1,000: items cost their size.
    let limit = Limit::new(Rate::per_second(1_000)).cost(|size: &u32| *size);
    let (times, _) =
        pass_times(at_once([600u32, 600, 200, 2_000]), |p| p.throttle("bytes", limit.clone())).await;
    // 600 at once; the next 600 waits until 200 more fit (200 ms); 200
    // then waits 200 ms more; 2,000 (more than a burst) waits for a full
    // bucket (1 s) and takes it.
    assert_eq!(times, [0, 200, 400, 1_400].map(Duration::from_millis));
}

#[tokio::test(start_paused = true)]
async fn enforcing_refuses_the_excess_keeps_the_items_and_counts_them() {
    let limit = Limit::new(Rate::per_second(3)).per_key(|r: &(u32, u32)| r.0);
    let refused = Arc::new(Mutex::new(Vec::new()));
    let kept = refused.clone();
    let (delivered, rows) = sink::collect();
    let readings = (0..10u32).map(|i| (i % 2, i));
    let report = Pipeline::from_iter(readings)
        .rate_limit("per device", limit.clone())
        .inspect_failures(move |f| {
            assert!(matches!(f.cause().error(), Some(RateLimited::Exceeded { .. })));
            kept.lock().unwrap().push(*f.item());
        })
        .discard_failures()
        .sink(delivered)
        .run()
        .await
        .unwrap();
    assert_eq!(rows.take(), [(0, 0), (1, 1), (0, 2), (1, 3), (0, 4), (1, 5)]);
    assert_eq!(*refused.lock().unwrap(), [(0, 6), (1, 7), (0, 8), (1, 9)]);
    assert_eq!((report.delivered(), report.discarded()), (6, 4));
    assert!(report.is_conserved());
    assert_eq!(limit.key_counts(&0).unwrap().limited, 2);
    assert_eq!(limit.busiest(1).len(), 1);
    assert!(report.stage("per device").unwrap().gauges.contains(&("rate_limited".to_owned(), 4)));
}

#[tokio::test(start_paused = true)]
async fn an_item_costing_more_than_a_burst_is_refused_as_permanent() {
    let limit = Limit::new(Rate::per_second(10)).cost(|x: &u32| *x);
    let classes = Arc::new(Mutex::new(Vec::new()));
    let seen = classes.clone();
    let report = Pipeline::from_iter([5u32, 50])
        .rate_limit("cost", limit)
        .inspect_failures(move |f| seen.lock().unwrap().push((f.class(), f.cause().to_string())))
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 1);
    let classes = classes.lock().unwrap();
    assert_eq!(classes[0].0, weir_core::ErrorClass::Permanent);
    assert!(classes[0].1.contains("costs 50 units, more than a burst of 10"), "{}", classes[0].1);
}

/// A million devices, each sending once, a thousand a second: keys whose
/// bucket is full again are dropped, so the limiter holds about the keys
/// of the last second, not every key ever seen.
#[tokio::test(start_paused = true)]
async fn idle_keys_are_evicted_so_memory_stays_bounded() {
    let limit = Limit::new(Rate::per_second(1).burst(1)).per_key(|device: &u32| *device);
    let devices = futures::stream::iter(0..1_000_000u32).then(|d| async move {
        if d % 1_000 == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        d
    });
    let most = Arc::new(Mutex::new(0usize));
    let (watch, seen) = (limit.clone(), most.clone());
    let report = Pipeline::new(devices)
        .rate_limit("per device", limit.clone())
        .discard_failures()
        .inspect("keys", move |_| {
            let mut most = seen.lock().unwrap();
            *most = (*most).max(watch.keys());
        })
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 1_000_000);
    let most = *most.lock().unwrap();
    assert!(most <= 4_096, "at most {most} keys at once");
    let gauges = &report.stage("per device").unwrap().gauges;
    let evicted = gauges.iter().find(|(n, _)| n == "rate_evicted").unwrap().1;
    assert!(evicted >= 990_000, "{evicted} keys evicted");
}

#[tokio::test]
async fn an_invalid_rate_is_refused_when_the_pipeline_is_built() {
    let err = Pipeline::from_iter(0..3u32)
        .throttle("nothing", Limit::new(Rate::per_second(0)))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Build(BuildError::Invalid { stage, message }) = err else { panic!("{err:?}") };
    assert_eq!(stage, "nothing");
    assert!(message.contains("count is zero"), "{message}");
}

/// A quota of zero for one key: its items are not let through unlimited.
fn broken_quota() -> Limit<(u32, u32), u32> {
    Limit::new(Rate::per_second(5))
        .per_key(|r: &(u32, u32)| r.0)
        .quota(|device| if *device == 3 { Rate::per_second(0) } else { Rate::per_second(5) })
}

#[tokio::test(start_paused = true)]
async fn an_invalid_quota_fails_the_items_of_its_key_when_enforcing() {
    let refused = Arc::new(Mutex::new(Vec::new()));
    let kept = refused.clone();
    let report = Pipeline::from_iter((0..4u32).map(|i| (2 + i % 2, i)))
        .rate_limit("per device", broken_quota())
        .route_failures(move |failure, _| {
            let invalid = matches!(failure.cause().error(), Some(RateLimited::InvalidQuota { .. }));
            kept.lock().unwrap().push((failure.item().1, invalid, failure.class()));
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink::drain())
        .run()
        .await
        .expect("runs");
    let permanent = ErrorClass::Permanent;
    assert_eq!(*refused.lock().unwrap(), [(1, true, permanent), (3, true, permanent)]);
    assert_eq!((report.delivered(), report.discarded()), (2, 2));
    let message = RateLimited::InvalidQuota { reason: weir_flow::InvalidRate::ZeroCount }.to_string();
    assert!(message.contains("fix the function given to Limit::quota"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn an_invalid_quota_ends_a_throttled_run_with_what_to_fix() {
    let err = Pipeline::from_iter((0..20u32).map(|i| (2 + i % 2, i)))
        .throttle("per device", broken_quota())
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the quota given for the item's key is invalid"), "{err}");
    let report = err.report().unwrap();
    assert!(report.is_conserved() && report.abandoned() == 0, "{report}");
}

#[tokio::test(start_paused = true)]
async fn stages_sharing_a_limit_count_their_own_items() {
    let limit = Limit::new(Rate::per_second(10).burst(1));
    let run = |name: &'static str, n: u32| {
        Pipeline::from_iter(0..n).throttle(name, limit.clone()).sink(sink::drain()).run()
    };
    let (a, b) = tokio::join!(run("a", 5), run("b", 15));
    let (a, b) = (a.unwrap(), b.unwrap());
    let gauge = |report: &Report, stage: &str, name: &str| {
        report.stage(stage).unwrap().gauges.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    };
    let (waited_a, waited_b) =
        (gauge(&a, "a", "rate_waited").unwrap(), gauge(&b, "b", "rate_waited").unwrap());
    assert!(waited_a <= 5 && waited_b <= 15, "each counts its own items: {waited_a}, {waited_b}");
    assert_eq!(waited_a + waited_b, 19, "one burst of 1 between them; every other item waited");
    assert_eq!(gauge(&a, "a", "rate_limited"), None, "shaping refuses nothing, so it does not say it");
}
