//! Watched stages say where the time went: a slow sink is busy and
//! backpressures the stages before it; a slow source leaves them idle.
//! Wall-clock tests with wide margins (stage timing is real time).

use std::convert::Infallible;
use std::time::Duration;

use weir_core::prelude::*;
use weir_core::{StageReport, sink};

fn fraction(part: Duration, report: &Report) -> f64 {
    part.as_secs_f64() / report.wall_time().as_secs_f64()
}

fn stage<'a>(report: &'a Report, name: &str) -> &'a StageReport {
    report.stages().iter().find(|s| s.name == name).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_sink_is_busy_and_backpressures_the_stages_before_it() {
    let slow = sink::from_fn(|_: u64| async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<_, Infallible>(())
    });
    let handle =
        Pipeline::from_iter(0..150).map("double", |x| x * 2).sink_named("store", slow).spawn().unwrap();
    handle.monitor().watch();
    let report = handle.join().await.unwrap();
    let (store, double) = (stage(&report, "store"), stage(&report, "double"));
    assert!(fraction(store.timing.busy, &report) > 0.8, "{:?} of {:?}", store.timing, report.wall_time());
    assert!(fraction(double.timing.backpressured, &report) > 0.8, "{:?}", double.timing);
    assert!(fraction(double.timing.busy, &report) < 0.1, "{:?}", double.timing);
    // Marked items, about one a millisecond, wait behind the slow writes.
    let latency = &store.timing.latency;
    assert!(latency.count() >= 20, "{} marks", latency.count());
    assert!(latency.quantile(0.5).unwrap() >= Duration::from_millis(2));
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_source_leaves_the_others_idle() {
    let ticks = async_stream::stream! {
        for i in 0..100_u64 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            yield i;
        }
    };
    let handle =
        Pipeline::new(ticks).map("double", |x| x * 2).sink_named("store", sink::drain()).spawn().unwrap();
    handle.monitor().watch();
    let report = handle.join().await.unwrap();
    for name in ["double", "store"] {
        let timing = &stage(&report, name).timing;
        assert!(fraction(timing.idle, &report) > 0.8, "{name}: {timing:?} of {:?}", report.wall_time());
        assert!(fraction(timing.busy + timing.backpressured, &report) < 0.15, "{name}: {timing:?}");
    }
    // Items go straight through: the median far below the 2 ms between
    // them (the tail left to a loaded machine's scheduler).
    let p50 = stage(&report, "store").timing.latency.quantile(0.5).unwrap();
    assert!(p50 < Duration::from_millis(1), "{p50:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_unwatched_run_times_nothing() {
    let report =
        Pipeline::from_iter(0..1000).map("double", |x| x * 2).sink(sink::drain()).run().await.unwrap();
    for stage in report.stages() {
        assert_eq!(stage.timing, Default::default(), "{}", stage.name);
    }
}
