//! `fan_out_with`: one operation per worker, dropped on its worker's task
//! when that worker stops, under paused time.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use tokio::time::Instant;
use weir_core::prelude::*;
use weir_core::sink;
use weir_core::{Attempt, Verdict};
use weir_fanout::{FanOut, FanOutExt};

/// What happened to the workers: `(worker, event, time since start)`.
type Events = Arc<Mutex<Vec<(usize, &'static str, Duration)>>>;

/// A worker's operation: sleeps `item` seconds and tags the item with its
/// worker; records when it is made and dropped, and on which task.
struct Tagger {
    worker: usize,
    events: Events,
    start: Instant,
    task: Mutex<Option<tokio::task::Id>>,
}

impl Tagger {
    fn record(&self, event: &'static str) {
        self.events.lock().unwrap().push((self.worker, event, self.start.elapsed()));
    }
}

impl Operation<u64> for Tagger {
    type Output = (usize, u64);
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<(usize, u64), Infallible>>;

    fn apply(&self, item: u64) -> Self::Future {
        let task = *self.task.lock().unwrap().get_or_insert_with(tokio::task::id);
        assert_eq!(task, tokio::task::id(), "worker {} runs on one task", self.worker);
        let worker = self.worker;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(item)).await;
            Ok((worker, item))
        })
    }
}

impl Drop for Tagger {
    fn drop(&mut self) {
        if let Some(task) = *self.task.lock().unwrap() {
            assert_eq!(tokio::task::try_id(), Some(task), "dropped on its worker's task");
        }
        self.record("stopped");
    }
}

fn tagger(events: &Events, start: Instant) -> impl FnMut(usize) -> Tagger + Send + 'static {
    let events = events.clone();
    move |worker| {
        let op = Tagger { worker, events: events.clone(), start, task: Mutex::new(None) };
        op.record("made");
        op
    }
}

#[tokio::test(start_paused = true)]
async fn each_worker_owns_its_operation_and_drops_it_when_it_stops() {
    let (events, start) = (Events::default(), Instant::now());
    let (sink, out) = sink::collect();
    // Three workers, two items: worker 0 takes item 3 (3 s) at 0 s, worker 1
    // takes item 1 (1 s) at 0.1 s, worker 2 has nothing to do. The input
    // ends at 0.4 s (the sleeps' deadlines count from now).
    let after = |ms: u64, item: Option<u64>| {
        stream::once(tokio::time::sleep(Duration::from_millis(ms))).filter_map(move |()| async move { item })
    };
    let source = stream::iter([3u64]).chain(after(100, Some(1))).chain(after(400, None));
    let report = Pipeline::new(source)
        .fan_out_with("tag", FanOut::workers(3), tagger(&events, start))
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .unwrap();
    let mut out = out.take();
    out.sort_unstable();
    assert_eq!(out, [(0, 3), (1, 1)]);
    let secs = |s: f64| Duration::from_secs_f64(s);
    assert_eq!(
        events.lock().unwrap().clone(),
        [
            (0, "made", secs(0.0)),
            (1, "made", secs(0.0)),
            (2, "made", secs(0.0)),
            (2, "stopped", secs(0.4)), // idle: stops when the input ends
            (1, "stopped", secs(1.1)), // after its item
            (0, "stopped", secs(3.0)),
        ]
    );
    assert_eq!(start.elapsed(), secs(3.0));
    assert!(report.is_conserved());
}

#[tokio::test(start_paused = true)]
async fn ordered_output_and_aborted_workers_drop_their_operations() {
    let (events, start) = (Events::default(), Instant::now());
    let (sink, out) = sink::collect();
    Pipeline::from_iter([3u64, 1, 2])
        .fan_out_with("tag", FanOut::workers(3).ordered(), tagger(&events, start))
        .halt_on_error()
        .sink(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(out.take().into_iter().map(|(_, item)| item).collect::<Vec<_>>(), [3, 1, 2], "input order");

    // A run dropped mid-way aborts its workers, which drop their operations.
    let events = Events::default();
    let run = Pipeline::from_iter([3600u64])
        .fan_out_with("tag", FanOut::workers(2), tagger(&events, start))
        .halt_on_error()
        .sink(sink::drain())
        .run();
    assert!(tokio::time::timeout(Duration::from_secs(1), run).await.is_err());
    tokio::task::yield_now().await;
    let stopped = events.lock().unwrap().iter().filter(|e| e.1 == "stopped").count();
    assert_eq!(stopped, 2);
}

#[tokio::test]
async fn too_many_workers_is_a_build_error_and_makes_no_operation() {
    let made = Arc::new(Mutex::new(0));
    let count = made.clone();
    let err = Pipeline::from_iter([1u64])
        .fan_out_with("tag", FanOut::workers(FanOut::MAX_WORKERS + 1), move |_| {
            *count.lock().unwrap() += 1;
            |x: u64| async move { Ok::<_, Infallible>(x) }
        })
        .halt_on_error()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Build(BuildError::Invalid { .. })), "{err:?}");
    assert_eq!(*made.lock().unwrap(), 0);
}

/// Fails item 0 the first time, succeeds otherwise; sleeps `item` seconds.
struct FlakyOnce {
    worker: usize,
    events: Events,
    start: Instant,
    failed: Arc<Mutex<bool>>,
}

#[derive(Debug, thiserror::Error)]
#[error("flaky")]
struct Flaky;

impl Operation<u64> for FlakyOnce {
    type Output = u64;
    type Error = Flaky;
    type Future = BoxFuture<'static, Result<u64, Flaky>>;

    fn apply(&self, item: u64) -> Self::Future {
        let fail = item == 0 && !std::mem::replace(&mut *self.failed.lock().unwrap(), true);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(item)).await;
            if fail { Err(Flaky) } else { Ok(item) }
        })
    }

    fn on_failure(&self, _: &mut Attempt, _: &Flaky) -> Verdict {
        Verdict::Retry(Duration::from_millis(100))
    }
}

impl Drop for FlakyOnce {
    fn drop(&mut self) {
        self.events.lock().unwrap().push((self.worker, "stopped", self.start.elapsed()));
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_stays_while_a_parked_retry_may_need_it_and_exits_once_nothing_is_left() {
    let (events, start, failed) = (Events::default(), Instant::now(), Arc::default());
    let e = events.clone();
    // Item 0 fails at once and is parked for 100 ms; item 2 takes 2 s.
    let report = Pipeline::from_iter([0u64, 2])
        .fan_out_with("op", FanOut::workers(2), move |worker| FlakyOnce {
            worker,
            events: e.clone(),
            start,
            failed: Arc::clone(&failed),
        })
        .halt_on_error()
        .sink(sink::drain())
        .run()
        .await
        .expect("runs");
    assert_eq!(report.delivered(), 2);
    let mut stopped: Vec<_> = events.lock().unwrap().iter().map(|&(_, _, at)| at).collect();
    stopped.sort();
    // One worker ran the retry at 100 ms, then had nothing left to wait
    // for; the other stopped after item 2, at 2 s.
    assert_eq!(stopped, [Duration::from_millis(100), Duration::from_secs(2)]);
}
