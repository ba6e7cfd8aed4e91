//! The router from outside: each item in exactly one route, unmatched
//! items where the router says, failures named by route, flushes of every
//! route before acknowledgements, and settings refused at build.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use proptest::prelude::*;
use weir_core::prelude::*;
use weir_core::{Sink, sink};
use weir_shape::{RouteError, Router};
use weir_testkit::AckLog;

fn gauge(report: &Report, stage: &str, name: &str) -> Option<u64> {
    report.stage(stage)?.gauges.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

#[tokio::test]
async fn routes_are_exclusive_first_match_wins() {
    let ((big, bigs), (even, evens), (rest, rests)) = (sink::collect(), sink::collect(), sink::collect());
    let router = Router::new()
        .route("big", |x: &u32| *x >= 10, big)
        .route("even", |x: &u32| x.is_multiple_of(2), even)
        .unmatched(rest);
    let report = Pipeline::from_iter(0..14u32).sink_named("router", router).run().await.unwrap();
    assert_eq!(bigs.take(), [10, 11, 12, 13], "12 is even too, but big came first");
    assert_eq!(evens.take(), [0, 2, 4, 6, 8]);
    assert_eq!(rests.take(), [1, 3, 5, 7, 9]);
    assert_eq!(gauge(&report, "router", "routed:big"), Some(4));
    assert_eq!(gauge(&report, "router", "routed:even"), Some(5));
    assert_eq!(gauge(&report, "router", "routed:unmatched"), Some(5));
    assert_eq!(report.delivered(), 14);
}

#[tokio::test]
async fn unmatched_items_can_fail_to_the_dead_letters_and_are_counted() {
    let (even, evens) = sink::collect();
    let router = Router::new().route("even", |x: &u32| x.is_multiple_of(2), even).unmatched_fails();
    let failed = Arc::new(Mutex::new(Vec::new()));
    let seen = failed.clone();
    let route = weir_core::route::from_fn(move |failure: Failure<u32, RouteError>, _| {
        let unmatched = matches!(failure.cause().error(), Some(RouteError::Unmatched));
        seen.lock().unwrap().push((*failure.item(), unmatched, failure.class()));
        failure.settle(Settled::DeadLettered);
        std::future::ready(())
    });
    let report =
        Pipeline::from_iter(0..6u32).sink_routing_failures("router", router, route).run().await.unwrap();
    assert_eq!(evens.take(), [0, 2, 4]);
    let permanent = ErrorClass::Permanent;
    assert_eq!(*failed.lock().unwrap(), [(1, true, permanent), (3, true, permanent), (5, true, permanent)]);
    assert_eq!((report.delivered(), report.dead_lettered()), (3, 3));
    assert_eq!(gauge(&report, "router", "routed:unmatched"), Some(3));
    assert!(report.is_conserved(), "{report}");
}

#[derive(Debug, thiserror::Error)]
#[error("the disk is full")]
struct Full;

/// Takes items, and fails its flush once if `fail` says so.
#[derive(Clone)]
struct Disk {
    fail: Arc<AtomicBool>,
    flushed: Arc<Mutex<Vec<u32>>>,
    buffer: Vec<u32>,
}

impl Sink<u32> for Disk {
    type Error = Full;
    async fn send(&mut self, item: u32) -> Result<(), SinkError<u32, Full>> {
        self.buffer.push(item);
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), Full> {
        if self.fail.swap(false, Ordering::SeqCst) {
            return Err(Full);
        }
        self.flushed.lock().unwrap().append(&mut self.buffer);
        Ok(())
    }
}

fn disk(fail: bool) -> Disk {
    Disk { fail: Arc::new(AtomicBool::new(fail)), flushed: Arc::default(), buffer: Vec::new() }
}

#[tokio::test]
async fn a_route_whose_flush_fails_ends_the_run_unacknowledged_naming_the_route() {
    let (good, bad) = (disk(false), disk(true));
    let stored = good.flushed.clone();
    let router =
        Router::new().route("small", |x: &u32| *x < 5, good).route("large", |_| true, bad).unmatched_fails();
    let acks: AckLog<u64> = AckLog::default();
    let source = futures::stream::iter(0..10u64).map({
        let acks = acks.clone();
        move |x| (x, acks.ack(x))
    });
    let err = Pipeline::from_acked(source).map("narrow", |x| x as u32).sink(router).run().await.unwrap_err();
    let RunError::Sink { error, report, .. } = err else { panic!("{err}") };
    assert!(error.to_string().starts_with("route `large`: the disk is full"), "{error}");
    assert_eq!(*stored.lock().unwrap(), [0, 1, 2, 3, 4], "the other route was flushed all the same");
    assert!(acks.fired().is_empty(), "nothing is acknowledged when a flush failed");
    assert_eq!(report.delivered(), 0);
    assert!(report.is_conserved(), "{report}");
}

/// Refuses item 3, giving it back.
struct RefusesThree;

impl Sink<u32> for RefusesThree {
    type Error = Full;
    async fn send(&mut self, item: u32) -> Result<(), SinkError<u32, Full>> {
        if item == 3 { Err(SinkError::with_item(Full, item)) } else { Ok(()) }
    }
    async fn flush(&mut self) -> Result<(), Full> {
        Ok(())
    }
}

#[tokio::test]
async fn a_route_that_refuses_an_item_gives_it_back_named() {
    let router = Router::new().route("disk", |_: &u32| true, RefusesThree).unmatched_fails();
    let err = Pipeline::from_iter(0..5u32).sink(router).run().await.unwrap_err();
    let RunError::Sink { error, item, .. } = err else { panic!("{err}") };
    let error = error.downcast::<RouteError>().expect("a route error");
    assert!(matches!(&*error, RouteError::Sink { route, .. } if route == "disk"), "{error}");
    assert_eq!(item.and_then(|i| i.downcast::<u32>().ok()).map(|i| *i), Some(3));
}

#[tokio::test]
async fn routers_that_would_drop_or_confuse_items_are_refused_at_build() {
    let cases: Vec<(Router<u32>, &str)> = vec![
        (Router::new().unmatched(sink::drain()), "no route"),
        (Router::new().route("a", |_| true, sink::drain()), "add `.unmatched(sink)`"),
        (
            Router::new()
                .route("a", |_| true, sink::drain())
                .route("a", |_| true, sink::drain())
                .unmatched_fails(),
            "named `a`",
        ),
    ];
    for (router, says) in cases {
        let err = Pipeline::from_iter(0..3u32).sink_named("router", router).run().await.unwrap_err();
        assert!(matches!(err, RunError::Build(_)), "{err}");
        assert!(err.to_string().contains(says) && err.to_string().contains("router"), "{err}");
    }
}

proptest! {
    /// Any items, any thresholds: every item ends in exactly one route (the
    /// first that matches) or the unmatched one, in order, and each route's
    /// gauge counts what it holds.
    #[test]
    fn every_item_ends_in_exactly_one_route_in_order(
        items in prop::collection::vec(0u32..1000, 0..300),
        cuts in prop::collection::vec(0u32..1000, 1..5),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut router = Router::new();
        let mut outs = Vec::new();
        for (i, cut) in cuts.iter().copied().enumerate() {
            let (out, got) = sink::collect();
            router = router.route(&format!("r{i}"), move |x: &u32| *x < cut, out);
            outs.push(got);
        }
        let (rest, rests) = sink::collect();
        let router = router.unmatched(rest);
        let report = rt.block_on(Pipeline::from_iter(items.clone()).sink_named("router", router).run()).unwrap();
        let route_of = |x: u32| cuts.iter().position(|cut| x < *cut);
        for (i, got) in outs.iter().enumerate() {
            let expected: Vec<u32> = items.iter().copied().filter(|x| route_of(*x) == Some(i)).collect();
            prop_assert_eq!(gauge(&report, "router", &format!("routed:r{i}")), Some(expected.len() as u64));
            prop_assert_eq!(got.take(), expected);
        }
        let unmatched: Vec<u32> = items.iter().copied().filter(|x| route_of(*x).is_none()).collect();
        prop_assert_eq!(rests.take(), unmatched);
        prop_assert_eq!(report.delivered(), items.len() as u64);
        prop_assert!(report.is_conserved(), "{}", report);
    }
}

/// A route to a channel (read by another pipeline) falls behind by at most
/// the channel's capacity; then it holds up the router, and intake.
#[tokio::test(start_paused = true)]
async fn a_slow_route_falls_behind_by_its_channel_and_no_further() {
    let (slow, mut unread) = tokio::sync::mpsc::channel::<u32>(4);
    let (fast, fasts) = sink::collect();
    let router = Router::new().route("slow", |x: &u32| x.is_multiple_of(2), slow).unmatched(fast);
    let arriving = futures::stream::iter(0..100u32).then(|x| async move {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        x
    });
    let handle = Pipeline::new(arriving).sink_named("router", router).spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let live = handle.monitor().report();
    // 0, 2, 4, 6 are in the channel; 8 waits for room; the odd items
    // before it went through.
    assert_eq!(fasts.take(), [1, 3, 5, 7]);
    assert_eq!(gauge(&live, "router", "routed:slow"), Some(4));
    let taken = live.stage("router").unwrap().received;
    assert!(taken <= 10, "intake stopped behind the waiting route: the router took {taken} of 100");
    assert_eq!(live.delivered(), 8, "the eight the routes took, flushed; 8 waits");
    // The other pipeline catches up: everything goes through.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(x) = unread.recv().await {
            got.push(x);
        }
        got
    });
    let report = handle.join().await.unwrap();
    assert_eq!(reader.await.unwrap(), (0..100).step_by(2).collect::<Vec<u32>>());
    assert_eq!(report.delivered(), 100);
}
