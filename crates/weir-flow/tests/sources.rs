//! The restartable source, the kill switch and the flow timeouts, from
//! outside, on a paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_flow::{FlowTimeoutExt, KillSwitch, RestartSource};
use weir_retry::RetryPolicy;
use weir_testkit::AckLog;

#[derive(Debug, thiserror::Error)]
#[error("connection reset")]
struct Reset;

/// A connection that gives `items` readings, `every` apart, then resets;
/// the nth connection's readings are n·100, n·100 + 1, ...
fn connections(
    items: u32,
    every: Duration,
    made: Arc<Mutex<Vec<Duration>>>,
) -> impl FnMut() -> futures::future::Ready<Result<futures::stream::BoxStream<'static, Result<u32, Reset>>, Reset>>
{
    let start = Instant::now();
    let n = Arc::new(AtomicU32::new(0));
    move || {
        made.lock().unwrap().push(start.elapsed());
        let n = n.fetch_add(1, Ordering::SeqCst);
        let readings = futures::stream::iter(0..=items)
            .then(move |i| async move {
                tokio::time::sleep(every).await;
                if i < items { Ok(n * 100 + i) } else { Err(Reset) }
            })
            .boxed();
        futures::future::ready(Ok(readings))
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_source_is_made_again_after_its_backoff_and_gives_up_when_the_policy_does() {
    let made = Arc::new(Mutex::new(Vec::new()));
    let source = RestartSource::new(connections(2, Duration::from_millis(10), made.clone()))
        .backoff(RetryPolicy::constant(Duration::from_millis(100)).max_attempts(3));
    let (rows, stored) = sink::collect();
    let err = Pipeline::from_source(source).sink(rows).run().await.unwrap_err();
    assert_eq!(stored.take(), [0, 1, 100, 101, 200, 201]);
    // Each lives 30 ms (two readings and the reset), then 100 ms of backoff.
    assert_eq!(*made.lock().unwrap(), [0, 130, 260].map(Duration::from_millis));
    assert!(
        err.to_string().contains("gave up after 3 incarnations; the last ended with: connection reset"),
        "{err}"
    );
    let report = err.report().unwrap();
    assert!(report.is_conserved(), "{report}");
    assert_eq!(report.delivered(), 6);
    assert!(report.stage("source").unwrap().gauges.contains(&("source_restarts".to_owned(), 2)));
}

#[tokio::test(start_paused = true)]
async fn the_backoff_starts_over_only_after_a_healthy_period() {
    for (healthy_after, expected) in [
        // Each incarnation lives 1 s: shorter than the healthy period, so
        // the backoff grows though every one gave items.
        (Duration::from_secs(10), [0, 1_100, 2_300, 3_700]),
        // Longer than the healthy period: it starts over each time.
        (Duration::from_millis(500), [0, 1_100, 2_200, 3_300]),
    ] {
        let made = Arc::new(Mutex::new(Vec::new()));
        let policy = RetryPolicy::exponential(Duration::from_millis(100)).max_attempts(4);
        let source = RestartSource::new(connections(9, Duration::from_millis(100), made.clone()))
            .backoff(policy)
            .healthy_after(healthy_after);
        // Stopped after four seconds (the second source never gives up).
        let stop = tokio::time::sleep(Duration::from_secs(4));
        let _ = Pipeline::from_source(source).sink(sink::drain()).run_until(stop).await;
        let made = made.lock().unwrap();
        assert_eq!(made[..4], expected.map(Duration::from_millis), "healthy after {healthy_after:?}");
    }
}

/// A connect that fails only after a long timeout (longer than the healthy
/// period) is not a healthy incarnation: the backoff grows and the source
/// gives up when the policy does.
#[tokio::test(start_paused = true)]
async fn a_factory_slow_to_fail_never_counts_as_healthy() {
    let tries = Arc::new(Mutex::new(Vec::new()));
    let log = tries.clone();
    let start = Instant::now();
    let factory = move || {
        log.lock().unwrap().push(start.elapsed());
        async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Err::<futures::stream::Empty<Result<u32, Reset>>, _>(Reset)
        }
    };
    let source = RestartSource::new(factory)
        .backoff(RetryPolicy::exponential(Duration::from_secs(1)).max_attempts(3))
        .healthy_after(Duration::from_secs(10));
    let err = Pipeline::from_source(source).sink(sink::drain()).run().await.unwrap_err();
    assert!(err.to_string().contains("gave up after 3 incarnations"), "{err}");
    // 30 s to fail, then 1 s, then 2 s of backoff: growing, never reset.
    assert_eq!(*tries.lock().unwrap(), [0, 31, 63].map(Duration::from_secs));
}

#[tokio::test(start_paused = true)]
async fn items_keep_their_acknowledgements_across_incarnations() {
    let acks = AckLog::default();
    let log = acks.clone();
    let n = Arc::new(AtomicU32::new(0));
    let source = RestartSource::acked(move || {
        let n = n.fetch_add(1, Ordering::SeqCst);
        let log = log.clone();
        async move {
            let readings =
                (0..3).map(move |i| if i < 2 { Ok((n * 10 + i, log.ack(n * 10 + i))) } else { Err(Reset) });
            Ok::<_, Reset>(futures::stream::iter(readings))
        }
    })
    .backoff(RetryPolicy::constant(Duration::from_millis(5)).max_attempts(3));
    let _ = Pipeline::from_source(source).sink(sink::drain()).run().await.unwrap_err();
    assert_eq!(acks.fired_sorted(), [0, 1, 10, 11, 20, 21]);
}

#[tokio::test(start_paused = true)]
async fn a_source_that_may_finish_ends_the_run_when_done() {
    let source = RestartSource::new(|| async { Ok::<_, Reset>(futures::stream::iter([Ok(1u32), Ok(2)])) })
        .end_when_done();
    let report = Pipeline::from_source(source).sink(sink::drain()).run().await.unwrap();
    assert_eq!(report.delivered(), 2);
}

/// An endless source, one item every 10 ms, counting what it gave.
fn endless(given: Arc<AtomicU32>) -> impl futures::Stream<Item = u32> + Send + 'static {
    futures::stream::repeat(()).then(move |()| {
        let given = given.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            given.fetch_add(1, Ordering::SeqCst)
        }
    })
}

/// A slow stage: each item takes 50 ms.
async fn slow(x: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(50)).await;
    x
}

#[tokio::test(start_paused = true)]
async fn a_kill_switch_shuts_several_pipelines_down_and_they_drain() {
    let switch = KillSwitch::new();
    let (given_a, given_b) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let a = tokio::spawn(
        switch.guard(Pipeline::new(endless(given_a.clone())).then("slow", slow).sink(sink::drain())),
    );
    let b = tokio::spawn(switch.guard(Pipeline::new(endless(given_b.clone())).sink(sink::drain())));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!switch.is_thrown());
    switch.shutdown();
    for (run, given) in [(a, given_a), (b, given_b)] {
        let report = run.await.unwrap().unwrap();
        assert_eq!(report.ending(), Ending::Drained, "{report}");
        assert_eq!(report.abandoned(), 0);
        assert_eq!(
            report.delivered(),
            u64::from(given.load(Ordering::SeqCst)),
            "every item given drained: {report}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_kill_switch_aborts_at_once_even_after_a_shutdown() {
    let switch = KillSwitch::new();
    let slow_forever = |x: u32| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        x
    };
    let run = tokio::spawn(
        switch.guard(
            Pipeline::new(endless(Arc::default()))
                .then("stuck", slow_forever)
                .sink(sink::drain())
                .drain_timeout(Duration::from_secs(7200)),
        ),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    switch.shutdown();
    tokio::time::sleep(Duration::from_secs(1)).await;
    switch.abort();
    let start = Instant::now();
    let report = run.await.unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_secs(1), "aborted at once");
    assert_eq!(report.ending(), Ending::Aborted);
    assert!(report.abandoned() > 0 && report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_guarded_after_the_switch_was_thrown_stops_at_once() {
    let switch = KillSwitch::new();
    switch.shutdown();
    let report = switch.guard(Pipeline::new(endless(Arc::default())).sink(sink::drain())).await.unwrap();
    assert!(report.source_items() <= 1, "{report}");
}

#[tokio::test(start_paused = true)]
async fn idle_events_come_while_nothing_comes_and_stop_with_the_input() {
    // Items at 0 ms, 5 s, and 40 s; idle after 10 s.
    let items = futures::stream::iter([(0u64, 1u32), (5, 2), (35, 3)]).then(|(wait, x)| async move {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        x
    });
    let start = Instant::now();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let report = Pipeline::new(items)
        .on_idle("quiet", Duration::from_secs(10), move |idle| {
            seen.lock().unwrap().push((start.elapsed(), idle.idle_for, idle.events))
        })
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 3);
    let secs = Duration::from_secs;
    assert_eq!(
        *events.lock().unwrap(),
        [(secs(15), secs(10), 1), (secs(25), secs(20), 2), (secs(35), secs(30), 3)]
    );
    assert!(report.stage("quiet").unwrap().gauges.contains(&("idle_events".to_owned(), 3)));
}

/// A busy downstream is not an idle input: readings a millisecond apart
/// behind a sink that takes 30 s each give no idle event, and no burst of
/// them.
#[tokio::test(start_paused = true)]
async fn a_busy_downstream_is_not_idleness() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let slow_sink = sink::from_fn(|_: u32| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, std::convert::Infallible>(())
    });
    // Each reading takes a millisecond to arrive: never idle for long.
    let readings = futures::stream::iter(0..5u32).then(|x| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        x
    });
    let report = Pipeline::new(readings)
        .on_idle("quiet", Duration::from_secs(10), move |idle| seen.lock().unwrap().push(idle))
        .sink(slow_sink)
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 5);
    assert!(events.lock().unwrap().is_empty(), "{:?}", events.lock().unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_run_within_its_completion_limit_completes() {
    let report = Pipeline::from_iter(0..10u32)
        .then("slow", slow)
        .complete_within("in time", Duration::from_secs(1))
        .sink(sink::drain())
        .run()
        .await
        .unwrap();
    assert_eq!(report.delivered(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_late_run_stops_intake_drains_and_fails() {
    let given = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let err = Pipeline::new(endless(given.clone()))
        .complete_within("deadline", Duration::from_secs(2))
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(2_100));
    let report = err.report().unwrap();
    assert!(report.is_conserved() && report.abandoned() == 0, "{report}");
    assert_eq!(report.delivered(), u64::from(given.load(Ordering::SeqCst)));
    assert!(err.to_string().contains("`deadline` did not complete within 2s"), "{err}");
}

/// A source that always has an item ready, in front of a slow sink: the
/// limit fires at the first pull after it passed, not once the input runs dry.
#[tokio::test(start_paused = true)]
async fn the_limit_fires_although_the_input_is_always_ready() {
    let start = Instant::now();
    let slow_sink = sink::from_fn(|_: u32| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::convert::Infallible>(())
    });
    let err = Pipeline::from_iter(0..1_000u32)
        .complete_within("nightly", Duration::from_secs(2))
        .sink(slow_sink)
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`nightly` did not complete within 2s"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(2_300), "fired late: {:?}", start.elapsed());
    let report = err.report().unwrap();
    assert!(report.is_conserved(), "{report}");
    assert!(report.delivered() < 30, "intake stopped at the limit: {report}");
}

#[tokio::test]
async fn zero_timeouts_are_refused_when_the_pipeline_is_built() {
    let err = Pipeline::from_iter(0..3u32)
        .on_idle("idle", Duration::ZERO, |_| ())
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Build(BuildError::Invalid { ref stage, .. }) if stage == "idle"),
        "{err}"
    );
    let err = Pipeline::from_iter(0..3u32)
        .complete_within("late", Duration::ZERO)
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Build(BuildError::Invalid { ref stage, .. }) if stage == "late"),
        "{err}"
    );
}
