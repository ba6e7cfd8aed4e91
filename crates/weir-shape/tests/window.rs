//! Keyed windows from outside: results equal a direct computation over
//! the same items, late items are counted failures, the watermark moves
//! with the wall clock when input is idle, the open windows are bounded,
//! and acknowledgements wait for the window's output.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use weir_core::prelude::*;
use weir_core::sink;
use weir_shape::{Overflow, Window, WindowError, WindowExt, Windowed};

/// (device, value, seconds since the epoch)
type Reading = (u32, u64, u64);

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The sums per device per window, computed directly: every window of
/// `size` starting every `every` that holds each reading's time.
fn direct(readings: &[Reading], size: u64, every: u64) -> BTreeMap<(u32, u64), (u64, u64)> {
    let mut sums = BTreeMap::new();
    for &(device, value, t) in readings {
        let mut start = t / every * every;
        loop {
            if start + size > t {
                let sum: &mut (u64, u64) = sums.entry((device, start)).or_default();
                sum.0 += value;
                sum.1 += 1;
            }
            if start < every {
                break;
            }
            start -= every;
            if start + size <= t {
                break;
            }
        }
    }
    sums
}

async fn windowed<A: Send + 'static>(
    readings: Vec<Reading>,
    window: Window<Reading, u32, A>,
) -> (Vec<Windowed<u32, A>>, Vec<WindowError>, weir_core::Report) {
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = failures.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(readings)
        .window("window", window)
        .route_failures(move |failure: Failure<Reading, WindowError>, _| {
            seen.lock().unwrap().push(failure.cause().error().unwrap().clone());
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink)
        .run()
        .await
        .unwrap();
    let failures = failures.lock().unwrap().clone();
    (out.take(), failures, report)
}

fn sums(out: &[Windowed<u32, u64>]) -> BTreeMap<(u32, u64), (u64, u64)> {
    out.iter().map(|w| ((w.key, secs(w.start)), (w.value, w.items))).collect()
}

#[tokio::test(start_paused = true)]
async fn tumbling_event_time_sums_equal_a_direct_computation() {
    let readings: Vec<Reading> = (0..300).map(|i| (i % 7, i as u64, i as u64 / 2)).collect();
    let window = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(10))
        .event_time(|r| at(r.2), Duration::ZERO);
    let (out, failures, report) = windowed(readings.clone(), window).await;
    assert_eq!(failures, []);
    assert_eq!(sums(&out), direct(&readings, 10, 10));
    for w in &out {
        assert_eq!(secs(w.end) - secs(w.start), 10, "each output carries its bounds");
    }
    assert!(report.is_conserved(), "{report}");
    assert_eq!(report.delivered(), 300, "each item counted once, in its window");
}

#[tokio::test(start_paused = true)]
async fn windows_come_out_in_order_of_their_end_as_the_watermark_passes() {
    let readings: Vec<Reading> = vec![(1, 1, 0), (2, 1, 5), (1, 1, 12), (2, 1, 25)];
    let window = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(10))
        .event_time(|r| at(r.2), Duration::ZERO);
    let (out, _, _) = windowed(readings, window).await;
    let order: Vec<(u32, u64)> = out.iter().map(|w| (w.key, secs(w.start))).collect();
    assert_eq!(order[..2].iter().map(|w| w.1).collect::<Vec<_>>(), [0, 0]);
    assert_eq!(order[2..], [(1, 10), (2, 20)]);
}

#[tokio::test(start_paused = true)]
async fn late_items_are_counted_failures_and_the_lateness_takes_some_back() {
    // The watermark reaches 30 at the item of time 30; then 15 comes.
    let readings: Vec<Reading> = vec![(1, 1, 0), (1, 1, 30), (1, 5, 15), (1, 1, 35)];
    let strict = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(10))
        .event_time(|r| at(r.2), Duration::ZERO);
    let (out, failures, report) = windowed(readings.clone(), strict).await;
    assert_eq!(failures.len(), 1);
    assert!(matches!(failures[0], WindowError::Late { event_time, .. } if event_time == at(15)));
    assert_eq!(sums(&out), BTreeMap::from([((1, 0), (1, 1)), ((1, 30), (2, 2))]));
    let stage = report.stage("window").unwrap();
    assert_eq!((stage.failed, stage.gauge("window_late")), (1, Some(1)));
    assert_eq!(report.discarded(), 1);
    assert!(report.is_conserved(), "{report}");

    let lenient = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(10))
        .event_time(|r| at(r.2), Duration::from_secs(20));
    let (out, failures, _) = windowed(readings, lenient).await;
    assert_eq!(failures, []);
    assert_eq!(sums(&out)[&(1, 10)], (5, 1), "within the lateness, the item counts");
}

#[tokio::test(start_paused = true)]
async fn the_watermark_advances_with_the_wall_clock_when_input_is_idle() {
    // One reading, then nothing for a minute: its window comes out when
    // the wall clock has carried the watermark past its end, not at the end
    // of input (which never comes here).
    let now = tokio::time::Instant::now();
    let t0 = SystemTime::now();
    let readings = futures::stream::iter([(1u32, 4u64, 0u64)]).chain(futures::stream::pending());
    let window = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(10))
        .event_time(move |_| t0, Duration::from_secs(2));
    let (sink, out) = sink::collect();
    let handle =
        Pipeline::new(readings).window("window", window).discard_failures().sink(sink).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(out.is_empty());
    tokio::time::sleep(Duration::from_secs(12)).await;
    let got = out.take();
    assert_eq!(got.len(), 1, "the window came out while the input was idle");
    assert_eq!(got[0].value, 4);
    assert!(now.elapsed() <= Duration::from_secs(13));
    handle.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn processing_time_windows_come_out_as_the_clock_passes_their_end() {
    let readings = futures::stream::iter(0..30u64).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        (1u32, i, 0u64)
    });
    let window = Window::by_key(|r: &Reading| r.0).count().tumbling(Duration::from_secs(1));
    let (sink, out) = sink::collect();
    let report =
        Pipeline::new(readings).window("window", window).discard_failures().sink(sink).run().await.unwrap();
    let got = out.take();
    assert_eq!(got.iter().map(|w| w.value).sum::<u64>(), 30);
    assert!(got.len() >= 3 && got.len() <= 4, "about one window a second: {}", got.len());
    for w in &got {
        assert_eq!(w.end.duration_since(w.start).unwrap(), Duration::from_secs(1));
    }
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn sliding_windows_hold_each_item_in_each_of_its_windows() {
    let readings: Vec<Reading> = (0..120).map(|i| (i % 3, 1, i as u64)).collect();
    let window = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .sliding(Duration::from_secs(30), Duration::from_secs(10))
        .event_time(|r| at(r.2), Duration::ZERO);
    let (out, failures, report) = windowed(readings.clone(), window).await;
    assert_eq!(failures, []);
    assert_eq!(sums(&out), direct(&readings, 30, 10));
    // Each item's count goes with one window only.
    assert_eq!(report.delivered(), 120);
    assert!(report.is_conserved(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn past_the_open_limit_items_fail_or_the_earliest_window_closes() {
    let readings: Vec<Reading> = vec![(1, 1, 0), (2, 1, 0), (3, 1, 0), (1, 1, 1)];
    let bounded = || {
        Window::by_key(|r: &Reading| r.0)
            .sum(|r| r.1)
            .tumbling(Duration::from_secs(10))
            .event_time(|r| at(r.2), Duration::ZERO)
            .max_open(2)
    };
    let (out, failures, report) = windowed(readings.clone(), bounded()).await;
    assert_eq!(failures, [WindowError::TooManyOpen { max: 2 }]);
    assert_eq!(sums(&out), BTreeMap::from([((1, 0), (2, 2)), ((2, 0), (1, 1))]));
    assert!(report.is_conserved());

    let (out, failures, report) = windowed(readings, bounded().on_overflow(Overflow::CloseEarliest)).await;
    assert_eq!(failures, []);
    assert_eq!(out.iter().map(|w| w.items).sum::<u64>(), 4);
    assert_eq!(
        report.stage("window").unwrap().gauge("window_evicted"),
        Some(2),
        "1 and 2 closed early for 3"
    );
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn an_items_acknowledgement_waits_for_its_windows_output() {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let items: Vec<(Reading, Ack)> = [(1, 1, 0), (1, 1, 5), (1, 1, 15)]
        .into_iter()
        .map(|r: Reading| {
            let acked = acked.clone();
            (r, Ack::new(move || acked.lock().unwrap().push(r.2)))
        })
        .collect();
    let window = Window::by_key(|r: &Reading| r.0)
        .count()
        .tumbling(Duration::from_secs(10))
        .event_time(|r| at(r.2), Duration::ZERO);
    let seen = acked.clone();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = arrivals.clone();
    let sink = sink::from_fn(move |w: Windowed<u32, u64>| {
        // How many items were acknowledged when each window reached the sink.
        noted.lock().unwrap().push((secs(w.start), seen.lock().unwrap().len()));
        std::future::ready(Ok::<_, std::convert::Infallible>(()))
    });
    let report = Pipeline::from_acked(futures::stream::iter(items))
        .window("window", window)
        .discard_failures()
        .sink(sink)
        .run()
        .await
        .unwrap();
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals[0], (0, 0), "no item acknowledged before its window reached the sink");
    assert_eq!(arrivals[1].0, 10);
    assert!(arrivals[1].1 <= 2, "15 not acknowledged before its window was delivered");
    assert_eq!(report.delivered(), 3);
    assert_eq!(*acked.lock().unwrap(), [0, 5, 15]);
}

#[tokio::test(start_paused = true)]
async fn an_input_slower_than_real_time_makes_none_of_its_items_late() {
    // A replay: event time moves 1 s per item, items come 1.5 s apart.
    let readings = futures::stream::iter(0..20u64).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        (1u32, 1u64, i)
    });
    let window = Window::by_key(|r: &Reading| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(5))
        .event_time(|r| at(r.2), Duration::ZERO)
        .idle_after(Duration::from_secs(10));
    let (sink, out) = sink::collect();
    let report =
        Pipeline::new(readings).window("window", window).discard_failures().sink(sink).run().await.unwrap();
    assert_eq!(report.stage("window").unwrap().failed, 0, "{report}");
    let got: Vec<u64> = out.take().iter().map(|w| w.value).collect();
    assert_eq!(got, [5, 5, 5, 5]);
}

#[tokio::test(start_paused = true)]
async fn items_before_the_epoch_or_far_ahead_of_the_clock_fail() {
    let readings: Vec<(u32, u64, SystemTime)> = vec![
        (1, 1, UNIX_EPOCH - Duration::from_secs(1)),
        (1, 1, SystemTime::now() + Duration::from_secs(7200)),
        (1, 1, SystemTime::now()),
    ];
    let window = Window::by_key(|r: &(u32, u64, SystemTime)| r.0)
        .sum(|r| r.1)
        .tumbling(Duration::from_secs(10))
        .event_time(|r| r.2, Duration::from_secs(1));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let seen = failures.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(readings)
        .window("window", window)
        .route_failures(move |failure: Failure<(u32, u64, SystemTime), WindowError>, _| {
            seen.lock().unwrap().push(failure.cause().error().unwrap().clone());
            failure.settle(Settled::Discarded);
            std::future::ready(())
        })
        .sink(sink)
        .run()
        .await
        .unwrap();
    let failures = failures.lock().unwrap().clone();
    assert!(matches!(failures[0], WindowError::BeforeEpoch { .. }), "{failures:?}");
    assert!(matches!(failures[1], WindowError::AheadOfClock { .. }), "{failures:?}");
    assert_eq!(out.take().len(), 1, "the good item's window, not held back by the bad one");
    assert!(report.is_conserved());
}

#[tokio::test]
async fn invalid_windows_are_refused_when_built() {
    let gaps =
        Window::by_key(|r: &Reading| r.0).count().sliding(Duration::from_secs(10), Duration::from_secs(20));
    let err = Pipeline::from_iter([(1, 1, 0)])
        .window("w", gaps)
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("leave gaps"), "{err}");
    let zero = Window::by_key(|r: &Reading| r.0).count().max_open(0);
    assert!(zero.validate().is_err());
    let crowded = Window::by_key(|r: &Reading| r.0)
        .count()
        .sliding(Duration::from_secs(100), Duration::from_secs(1))
        .max_open(10);
    assert!(matches!(
        crowded.validate(),
        Err(weir_shape::InvalidWindow::MoreWindowsPerItem { per_item: 100, .. })
    ));
    // A lateness of "for ever" is not an overflow.
    let forever = Window::by_key(|r: &Reading| r.0).count().event_time(|r| at(r.2), Duration::MAX);
    let (out, failures, _) = windowed(vec![(1, 1, 0), (1, 1, 70)], forever).await;
    assert_eq!((out.len(), failures.len()), (2, 0));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// In-order readings (any keys, any gaps), any tumbling or sliding
        /// shape: the windows' sums are the direct computation's, and
        /// every item is counted once.
        #[test]
        fn window_results_equal_a_direct_computation(
            mut readings in prop::collection::vec((0u32..5, 0u64..100, 0u64..500), 0..200),
            every in 1u64..20,
            times in 1u64..4,
        ) {
            readings.sort_by_key(|r| r.2);
            let size = every * times;
            let window = Window::by_key(|r: &Reading| r.0)
                .sum(|r| r.1)
                .sliding(Duration::from_secs(size), Duration::from_secs(every))
                .event_time(|r| at(r.2), Duration::ZERO);
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
            let (out, failures, report) = rt.block_on(windowed(readings.clone(), window));
            prop_assert_eq!(failures, vec![]);
            prop_assert_eq!(sums(&out), direct(&readings, size, every));
            prop_assert_eq!(report.delivered(), readings.len() as u64);
            prop_assert!(report.is_conserved());
        }

        /// Shuffled readings with a lateness: an item fails as late exactly
        /// when every window holding its time ended at or before the
        /// watermark when it came (a model of the watermark), and the
        /// others' sums are the direct computation over them.
        #[test]
        fn late_items_are_exactly_those_behind_the_watermark(
            readings in prop::collection::vec((0u32..3, 1u64..10, 0u64..300), 1..150),
            lateness in 0u64..60,
        ) {
            let size = 10;
            let mut latest: Option<u64> = None;
            let (mut on_time, mut late) = (Vec::new(), 0);
            for &r in &readings {
                latest = Some(latest.map_or(r.2, |l| l.max(r.2)));
                let watermark = latest.unwrap().saturating_sub(lateness);
                if r.2 / size * size + size <= watermark { late += 1 } else { on_time.push(r) }
            }
            let window = Window::by_key(|r: &Reading| r.0)
                .sum(|r| r.1)
                .tumbling(Duration::from_secs(size))
                .event_time(|r| at(r.2), Duration::from_secs(lateness));
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
            let (out, failures, report) = rt.block_on(windowed(readings.clone(), window));
            prop_assert_eq!(failures.len(), late);
            let all_late = failures.iter().all(|f| matches!(f, WindowError::Late { .. }));
            prop_assert!(all_late);
            prop_assert_eq!(report.stage("window").unwrap().gauge("window_late"), Some(late as u64));
            prop_assert_eq!(sums(&out), direct(&on_time, size, size));
            prop_assert!(report.is_conserved());
        }
    }
}
