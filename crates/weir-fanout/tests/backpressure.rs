//! Backpressure: the items taken from the source and not yet delivered never
//! exceed the stage's capacity plus one per worker (queued, in workers'
//! hands, parked, waiting in the reorder window and in the sink's hand all
//! count); a slow sink slows the source; an idle pipeline does nothing at all.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::{Instant, sleep};
use weir_core::prelude::*;
use weir_core::sink::{self, Sink};
use weir_fanout::{FanOut, FanOutExt};
use weir_testkit::assert_conserved;

const N: u64 = 200;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts items pulled from the source and delivered by the sink, and
/// keeps the largest difference seen at any observation point.
#[derive(Debug, Default)]
struct Probe {
    pulled: AtomicU64,
    delivered: AtomicU64,
    max_gap: AtomicU64,
    running: AtomicU64,
    max_running: AtomicU64,
}

impl Probe {
    fn observe(&self) {
        let gap = self.pulled.load(SeqCst) - self.delivered.load(SeqCst);
        self.max_gap.fetch_max(gap, SeqCst);
    }

    fn pulled(&self) {
        self.pulled.fetch_add(1, SeqCst);
        self.observe();
    }

    fn op_started(&self) {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.max_running.fetch_max(now, SeqCst);
        self.observe();
    }

    fn op_finished(&self) {
        self.running.fetch_sub(1, SeqCst);
        self.observe();
    }

    fn delivered(&self) {
        self.delivered.fetch_add(1, SeqCst);
        self.observe();
    }
}

/// The source: `0..N`, counted as it is pulled.
fn source(probe: &Arc<Probe>) -> Pipeline<u64> {
    let probe = probe.clone();
    Pipeline::new(futures::stream::iter(0..N).inspect(move |_| probe.pulled()))
}

/// An operation of varied duration (0 to 6 ms), observed.
fn op(
    probe: &Arc<Probe>,
) -> impl Fn(u64) -> futures::future::BoxFuture<'static, Result<u64, Infallible>> + Clone + use<> {
    let probe = probe.clone();
    move |x: u64| {
        let probe = probe.clone();
        Box::pin(async move {
            probe.op_started();
            sleep(ms((x * 7) % 7 + x % 3)).await;
            probe.op_finished();
            Ok(x)
        })
    }
}

/// A sink slower than the workers (3 ms per item): it observes before its
/// await and counts the item delivered after it.
fn slow_sink<T: Send + 'static>(probe: &Arc<Probe>) -> impl Sink<T> + use<T> {
    let probe = probe.clone();
    sink::from_fn(move |_: T| {
        let probe = probe.clone();
        async move {
            probe.observe();
            sleep(ms(3)).await;
            probe.delivered();
            Ok::<_, Infallible>(())
        }
    })
}

/// Runs `N` items through the stage made by `stage` into a slow sink and
/// checks that pulled − delivered never exceeded `room` (the capacity plus
/// one item per worker; broadcast: the capacity) and reached it exactly.
async fn assert_bound<U: Send + 'static>(
    room: u64,
    stage: impl FnOnce(Pipeline<u64>, &Arc<Probe>) -> Fallible<U, u64, Infallible>,
) -> Arc<Probe> {
    let probe = Arc::new(Probe::default());
    let report =
        stage(source(&probe), &probe).halt_on_error().sink(slow_sink(&probe)).run().await.expect("runs");
    assert_eq!(report.delivered(), N);
    assert_conserved(&report);
    let gap = probe.max_gap.load(SeqCst);
    assert!(gap <= room, "{gap} items pulled and not delivered, room {room}");
    assert_eq!(gap, room, "a slow sink fills the stage to its capacity plus one per worker exactly");
    probe
}

#[tokio::test(start_paused = true)]
async fn unordered_pulled_minus_delivered_never_exceeds_capacity() {
    let probe =
        assert_bound(8 + 3, |p, probe| p.fan_out("op", FanOut::workers(3).capacity(8), op(probe))).await;
    assert_eq!(probe.max_running.load(SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_capacity_below_the_worker_count_still_bounds_the_stage() {
    let probe =
        assert_bound(2 + 4, |p, probe| p.fan_out("op", FanOut::workers(4).capacity(2), op(probe))).await;
    assert!(probe.max_running.load(SeqCst) <= 4);
}

#[tokio::test(start_paused = true)]
async fn ordered_reorder_window_counts_against_capacity() {
    assert_bound(8 + 3, |p, probe| p.fan_out("op", FanOut::workers(3).capacity(8).ordered(), op(probe)))
        .await;
}

#[tokio::test(start_paused = true)]
async fn keyed_pulled_minus_delivered_never_exceeds_capacity() {
    assert_bound(8 + 3, |p, probe| {
        p.fan_out_keyed("op", FanOut::workers(3).capacity(8), |x: &u64| x % 5, op(probe))
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_capacity_counts_items_not_copies() {
    assert_bound(5, |p, probe| p.broadcast("op", 5, vec![op(probe), op(probe), op(probe)])).await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_sink_slows_the_source() {
    const CAPACITY: u64 = 5;
    const WORKERS: u64 = 2;
    const ROOM: u64 = CAPACITY + WORKERS;
    let start = Instant::now();
    let pulls = Arc::new(Mutex::new(Vec::new()));
    let log = pulls.clone();
    let probe = Arc::new(Probe::default());
    let sink_probe = probe.clone();
    let source_probe = probe.clone();
    let items = futures::stream::iter(0..50u64).inspect(move |_| {
        source_probe.pulled();
        log.lock().unwrap().push(start.elapsed());
    });
    let handle = Pipeline::new(items)
        .fan_out("op", FanOut::workers(WORKERS as usize).capacity(CAPACITY as usize), |x: u64| async move {
            Ok::<_, Infallible>(x)
        })
        .halt_on_error()
        .sink(sink::from_fn(move |_: u64| {
            let probe = sink_probe.clone();
            async move {
                sleep(ms(100)).await;
                probe.delivered();
                Ok::<_, Infallible>(())
            }
        }))
        .spawn()
        .expect("valid");
    // After one second the sink took 10 items: the source gave at most 7 more.
    sleep(ms(1050)).await;
    let pulled = pulls.lock().unwrap().len();
    assert_eq!(probe.delivered.load(SeqCst), 10);
    assert!((10..=10 + ROOM as usize).contains(&pulled), "pulled {pulled} items in 1 s");
    let report = handle.join().await.expect("runs");
    assert_eq!(report.delivered(), 50);
    assert_eq!(probe.max_gap.load(SeqCst), ROOM);
    assert_eq!(start.elapsed(), ms(5000));
    // Item k (k >= room) is pulled only once k + 1 - room items are delivered.
    let pulls = pulls.lock().unwrap().clone();
    for (k, at) in pulls.iter().enumerate() {
        let earliest = ms(100 * (k as u64 + 1).saturating_sub(ROOM));
        assert!(*at >= earliest, "item {k} pulled at {at:?}, before {earliest:?}");
    }
}

/// Three items, then a source that never yields again (nor ends), counting
/// its polls.
fn then_silence(polls: Arc<AtomicUsize>) -> impl futures::Stream<Item = u64> + Send + 'static {
    let mut next = 0;
    futures::stream::poll_fn(move |_| {
        polls.fetch_add(1, SeqCst);
        if next < 3 {
            next += 1;
            Poll::Ready(Some(next - 1))
        } else {
            Poll::Pending
        }
    })
}

/// An idle pipeline does not poll, spin or tick: over an hour of (paused)
/// time nothing runs. A spinning task would keep the paused clock from
/// advancing, so the scenario runs on its own thread under a watchdog.
#[test]
fn an_idle_pipeline_does_nothing() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(idle_scenario());
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the idle pipeline kept the runtime busy: something spins")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the scenario failed (see its panic above)")
        }
    }
}

async fn idle_scenario() {
    // How often the runtime parks over an hour of paused time with nothing to do.
    let metrics = tokio::runtime::Handle::current().metrics();
    let parks_before = metrics.worker_park_count(0);
    sleep(Duration::from_secs(3600)).await;
    let baseline = metrics.worker_park_count(0) - parks_before;

    let polls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let (sink, out) = sink::collect();
    let start = Instant::now();
    let handle = Pipeline::new(then_silence(polls.clone()))
        .fan_out("op", FanOut::workers(3).capacity(16), move |x: u64| {
            counted.fetch_add(1, SeqCst);
            async move { Ok::<_, Infallible>(x) }
        })
        .halt_on_error()
        .sink(sink)
        .spawn()
        .expect("valid");
    // The three items go through at once: a cold queue does not wait for a batch to fill.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(out.len(), 3);
    assert_eq!(start.elapsed(), Duration::ZERO);

    let start = Instant::now();
    let (polls_before, parks_before) = (polls.load(SeqCst), metrics.worker_park_count(0));
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
    assert_eq!(polls.load(SeqCst), polls_before, "the source was polled while nothing happened");
    assert_eq!(calls.load(SeqCst), 3);
    let parks = metrics.worker_park_count(0) - parks_before;
    // A little slack for the wake-ups of the hour's own timer; a polling
    // loop (even one tick a second) would add thousands.
    assert!(
        parks <= baseline + 2,
        "the runtime woke up {parks} times during an idle hour, {baseline} with no pipeline"
    );

    // And it still shuts down cleanly, without a sentinel.
    let report = handle.shutdown().await.expect("drains");
    assert_eq!(report.delivered(), 3);
    assert_eq!(report.ending(), Ending::Drained);
    assert_conserved(&report);
}
