//! The four distribution modes: what comes out, in what order, what the
//! report counts, and which configurations are refused before anything runs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::Stream;
use tokio::time::{Instant, sleep};
use weir_core::prelude::*;
use weir_core::sink;
use weir_fanout::{FanOut, FanOutExt};
use weir_testkit::assert_conserved;

const N: u64 = 200;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A delay that varies from item to item (0 to 12 ms), so completion order
/// differs from input order.
fn delay(x: u64) -> Duration {
    ms((x * 7919) % 13)
}

fn f(x: u64) -> u64 {
    x * 3 + 1
}

/// `0..n`, counting every poll of the source.
fn counting_source(n: u64, polls: Arc<AtomicUsize>) -> impl Stream<Item = u64> + Send + 'static {
    let mut next = 0;
    futures::stream::poll_fn(move |_| {
        polls.fetch_add(1, SeqCst);
        if next < n {
            next += 1;
            Poll::Ready(Some(next - 1))
        } else {
            Poll::Ready(None)
        }
    })
}

/// The stage's counts must say that every item went in and came out.
fn assert_stage_counts(report: &Report, stage: &str, n: u64) {
    let source = report.stage("source").expect("source in the report");
    assert_eq!(source.emitted, n, "source emitted");
    let fan = report.stage(stage).expect("fan-out stage in the report");
    assert_eq!((fan.received, fan.emitted), (n, n), "fan-out received/emitted");
    assert_eq!((fan.failed, fan.panicked, fan.retried, fan.in_flight), (0, 0, 0, 0));
    assert_eq!(report.delivered(), n);
    assert_eq!(report.ending(), Ending::Completed);
    assert_conserved(report);
}

#[tokio::test(start_paused = true)]
async fn unordered_output_is_the_image_of_the_input() {
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..N)
        .fan_out("op", FanOut::workers(4).capacity(16), |x: u64| async move {
            sleep(delay(x)).await;
            Ok::<_, Infallible>(f(x))
        })
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .expect("runs");
    let mut out = out.take();
    let unordered = out.clone();
    out.sort_unstable();
    let mut expected: Vec<u64> = (0..N).map(f).collect();
    expected.sort_unstable();
    assert_eq!(out, expected);
    // The delays did reorder the output: this really is the unordered path.
    assert_ne!(unordered, out, "completion order should differ from input order");
    assert_stage_counts(&report, "op", N);
    // Every task of the stage ended with the run: no zombies.
    assert_eq!(tokio::runtime::Handle::current().metrics().num_alive_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn ordered_output_keeps_input_order_when_delays_vary() {
    let finished = Arc::new(Mutex::new(Vec::new()));
    let log = finished.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..N)
        .fan_out("op", FanOut::workers(4).capacity(16).ordered(), move |x: u64| {
            let log = log.clone();
            async move {
                sleep(delay(x)).await;
                log.lock().unwrap().push(x);
                Ok::<_, Infallible>(f(x))
            }
        })
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .expect("runs");
    assert_eq!(out.take(), (0..N).map(f).collect::<Vec<_>>());
    let finished = finished.lock().unwrap().clone();
    assert_eq!(finished.len() as u64, N);
    assert!(!finished.is_sorted(), "the operations finished out of order; the stage put them back in order");
    assert_stage_counts(&report, "op", N);
}

#[tokio::test(start_paused = true)]
async fn keyed_keeps_per_key_order_and_never_runs_a_key_twice_at_once() {
    const KEYS: u64 = 5;
    // Per key: how many operations of that key are running now, and the
    // most that ever ran at once.
    let running: Arc<Mutex<HashMap<u64, (u32, u32)>>> = Arc::default();
    let seen = running.clone();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter((0..N).map(|i| (i % KEYS, i)))
        .fan_out_keyed(
            "op",
            FanOut::workers(3).capacity(16),
            |(key, _): &(u64, u64)| *key,
            move |(key, i): (u64, u64)| {
                let running = seen.clone();
                async move {
                    {
                        let mut running = running.lock().unwrap();
                        let entry = running.entry(key).or_default();
                        entry.0 += 1;
                        entry.1 = entry.1.max(entry.0);
                    }
                    sleep(delay(i)).await;
                    running.lock().unwrap().get_mut(&key).expect("entered").0 -= 1;
                    Ok::<_, Infallible>((key, f(i)))
                }
            },
        )
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .expect("runs");
    let out = out.take();
    assert_eq!(out.len() as u64, N);
    for key in 0..KEYS {
        let got: Vec<u64> = out.iter().filter(|(k, _)| *k == key).map(|(_, v)| *v).collect();
        let expected: Vec<u64> = (0..N).filter(|i| i % KEYS == key).map(f).collect();
        assert_eq!(got, expected, "key {key}: its items in input order");
    }
    let interleaved: Vec<u64> = out.iter().map(|(_, v)| *v).collect();
    assert!(!interleaved.is_sorted(), "keys interleave in completion order");
    for (key, (now, most)) in running.lock().unwrap().iter() {
        assert_eq!((*now, *most), (0, 1), "key {key}: one operation at a time");
    }
    assert_stage_counts(&report, "op", N);
}

#[tokio::test(start_paused = true)]
async fn broadcast_every_consumer_sees_every_item_and_results_gather_in_consumer_order() {
    let logs: Vec<Arc<Mutex<Vec<u64>>>> = (0..3).map(|_| Arc::default()).collect();
    let consumer = |factor: u64, log: Arc<Mutex<Vec<u64>>>| {
        move |x: u64| {
            let log = log.clone();
            async move {
                // Each consumer has its own pace.
                sleep(ms((x * factor) % 7)).await;
                log.lock().unwrap().push(x);
                Ok::<_, Infallible>(x * factor)
            }
        }
    };
    let consumers =
        vec![consumer(1, logs[0].clone()), consumer(10, logs[1].clone()), consumer(100, logs[2].clone())];
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..N)
        .broadcast("copies", 8, consumers)
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .expect("runs");
    let expected: Vec<Vec<u64>> = (0..N).map(|x| vec![x, x * 10, x * 100]).collect();
    assert_eq!(out.take(), expected, "one vec per item, in input order, consumer order inside");
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(*log.lock().unwrap(), (0..N).collect::<Vec<_>>(), "consumer {i} saw every item");
    }
    assert_stage_counts(&report, "copies", N);
}

/// Runs `pipeline` (built from a counting source) and checks it is refused
/// with `BuildError::Zero` for `what`, without polling the source.
async fn assert_refused<F>(build: F, what: &str)
where
    F: FnOnce(Pipeline<u64>) -> Runnable,
{
    let polls = Arc::new(AtomicUsize::new(0));
    let runnable = build(Pipeline::new(counting_source(10, polls.clone())));
    let err = runnable.run().await.expect_err("refused");
    match err {
        RunError::Build(BuildError::Zero { stage, what: got }) => {
            assert_eq!(stage, "op");
            assert_eq!(got, what);
        }
        other => panic!("expected BuildError::Zero, got {other:?}"),
    }
    assert_eq!(polls.load(SeqCst), 0, "the source must not be polled");
}

type Identity = futures::future::Ready<Result<u64, Infallible>>;

fn identity(x: u64) -> Identity {
    futures::future::ready(Ok(x))
}

#[tokio::test(start_paused = true)]
async fn zero_sizes_are_build_errors_and_nothing_runs() {
    assert_refused(
        |p| p.fan_out("op", FanOut::workers(0).capacity(4), identity).halt_on_error().sink(sink::drain()),
        "the worker count",
    )
    .await;
    // Zero workers with the default capacity (16 per worker, so 0): the
    // worker count is what the error names.
    assert_refused(
        |p| p.fan_out("op", FanOut::workers(0), identity).halt_on_error().sink(sink::drain()),
        "the worker count",
    )
    .await;
    assert_refused(
        |p| p.fan_out("op", FanOut::workers(2).capacity(0), identity).halt_on_error().sink(sink::drain()),
        "the capacity",
    )
    .await;
    assert_refused(
        |p| {
            p.fan_out("op", FanOut::workers(2).capacity(0).ordered(), identity)
                .halt_on_error()
                .sink(sink::drain())
        },
        "the capacity",
    )
    .await;
    assert_refused(
        |p| {
            p.fan_out_keyed("op", FanOut::workers(0), |x: &u64| *x, identity)
                .halt_on_error()
                .sink(sink::drain())
        },
        "the worker count",
    )
    .await;
    assert_refused(
        |p| {
            p.fan_out_keyed("op", FanOut::workers(1).capacity(0), |x: &u64| *x, identity)
                .halt_on_error()
                .sink(sink::drain())
        },
        "the capacity",
    )
    .await;
    assert_refused(
        |p| p.broadcast("op", 4, Vec::<fn(u64) -> Identity>::new()).halt_on_error().sink(sink::drain()),
        "the number of consumers",
    )
    .await;
    assert_refused(
        |p| p.broadcast("op", 0, vec![identity]).halt_on_error().sink(sink::drain()),
        "the capacity",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_single_worker_at_capacity_one_still_delivers_everything() {
    let start = Instant::now();
    let (sink, out) = sink::collect();
    let report = Pipeline::from_iter(0..10u64)
        .fan_out("op", FanOut::workers(1).capacity(1).ordered(), |x: u64| async move {
            sleep(ms(10)).await;
            Ok::<_, Infallible>(f(x))
        })
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .expect("runs");
    assert_eq!(out.take(), (0..10).map(f).collect::<Vec<_>>());
    assert_eq!(start.elapsed(), ms(100), "one at a time");
    assert_stage_counts(&report, "op", 10);
}
