//! The circuit breaker, from outside: when it opens, that it lets exactly
//! its probes through, that intake pauses while it is open with nothing
//! lost and no retry spent, and that its state is in the live report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use weir_core::operation::call;
use weir_core::prelude::*;
use weir_core::{ErrorClass, sink};
use weir_fanout::{FanOut, FanOutExt};
use weir_flow::{Breaker, BreakerExt, BreakerSinkExt, BreakerState};
use weir_retry::{RetryExt, RetryPolicy};

#[derive(Debug, thiserror::Error, PartialEq)]
enum DbError {
    #[error("the database is down")]
    Down,
    #[error("row {0} is malformed")]
    Malformed(u32),
}

/// A database that is down while `down` is set, and counts the calls it
/// is running now and the most at once.
#[derive(Clone, Default)]
struct Db {
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
}

impl Db {
    fn store(
        &self,
    ) -> impl Fn(u32) -> futures::future::BoxFuture<'static, Result<u32, DbError>> + Clone + Send + Sync + 'static
    {
        let db = self.clone();
        move |row: u32| {
            let db = db.clone();
            Box::pin(async move {
                db.calls.fetch_add(1, Ordering::SeqCst);
                let now = db.running.fetch_add(1, Ordering::SeqCst) + 1;
                db.most_running.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                db.running.fetch_sub(1, Ordering::SeqCst);
                if db.down.load(Ordering::SeqCst) { Err(DbError::Down) } else { Ok(row) }
            })
        }
    }
}

fn quick() -> Breaker {
    Breaker::new()
        .min_calls(4)
        .failure_rate(0.5)
        .window(Duration::from_secs(10))
        .cool_down(Duration::from_secs(2))
}

#[tokio::test(start_paused = true)]
async fn it_opens_at_the_failure_rate_and_not_before_the_minimum_of_calls() {
    let db = Db::default();
    db.down.store(true, Ordering::SeqCst);
    let breaker = quick();
    let guarded = db.store().breaker(breaker.clone());
    for row in 0..3 {
        assert_eq!(call(&guarded, row).await.unwrap_err().cause.error(), Some(&DbError::Down));
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "{} calls are fewer than the minimum of 4",
            row + 1
        );
    }
    assert!(call(&guarded, 3).await.is_err());
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.times_opened(), 1);
    assert_eq!(db.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn failures_below_the_rate_keep_it_closed() {
    let db = Db::default();
    let breaker = quick();
    let guarded = db.store().breaker(breaker.clone());
    // One failure in three: below one in two.
    for row in 0..30 {
        db.down.store(row % 3 == 2, Ordering::SeqCst);
        let _ = call(&guarded, row).await;
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(breaker.times_opened(), 0);
}

#[tokio::test(start_paused = true)]
async fn old_failures_leave_the_window() {
    let db = Db::default();
    let breaker = quick();
    let guarded = db.store().breaker(breaker.clone());
    db.down.store(true, Ordering::SeqCst);
    for row in 0..3 {
        let _ = call(&guarded, row).await;
    }
    // Eleven seconds later, the three failures are out of the 10 s window.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let _ = call(&guarded, 3).await;
    assert_eq!(breaker.state(), BreakerState::Closed, "one failure of one call in the window");
}

#[tokio::test(start_paused = true)]
async fn errors_classified_permanent_do_not_open_it() {
    let bad_rows = |row: u32| async move { Err::<u32, _>(DbError::Malformed(row)) };
    let breaker = quick();
    let guarded = bad_rows.breaker(breaker.clone()).classify(|e: &DbError| match e {
        DbError::Down => ErrorClass::Transient,
        DbError::Malformed(_) => ErrorClass::Permanent,
    });
    for row in 0..20 {
        assert!(call(&guarded, row).await.is_err());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_exactly_one_probe_through_while_many_wait() {
    let db = Db::default();
    db.down.store(true, Ordering::SeqCst);
    let breaker = quick();
    let guarded = Arc::new(db.store().breaker(breaker.clone()));
    for row in 0..4 {
        let _ = call(&*guarded, row).await;
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    db.down.store(false, Ordering::SeqCst);
    let before = db.calls.load(Ordering::SeqCst);
    db.most_running.store(0, Ordering::SeqCst);
    // Twenty callers arrive while it is open.
    let callers: Vec<_> = (0..20)
        .map(|row| {
            let guarded = guarded.clone();
            tokio::spawn(async move { call(&*guarded, row).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(breaker.waiting(), 20);
    assert_eq!(db.calls.load(Ordering::SeqCst), before, "nothing goes through while open");
    // The cool-down ends: one probe, and only one, until it succeeds.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(db.calls.load(Ordering::SeqCst), before + 1, "exactly one probe");
    for caller in callers {
        assert!(caller.await.unwrap().is_ok());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(db.calls.load(Ordering::SeqCst), before + 20);
    assert_eq!(breaker.times_closed(), 1);
    assert_eq!(breaker.waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_it_for_another_cool_down() {
    let db = Db::default();
    db.down.store(true, Ordering::SeqCst);
    let breaker = quick();
    let guarded = db.store().breaker(breaker.clone());
    for row in 0..4 {
        let _ = call(&guarded, row).await;
    }
    let start = tokio::time::Instant::now();
    // The probe fails after the first cool-down.
    assert!(call(&guarded, 4).await.is_err());
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.times_opened(), 2);
    db.down.store(false, Ordering::SeqCst);
    // The next call waits a second cool-down, then probes and closes it.
    assert_eq!(call(&guarded, 5).await.unwrap(), 5);
    assert_eq!(start.elapsed(), Duration::from_millis(2_000 + 10 + 2_000 + 10));
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_dropped_before_its_verdict_gives_its_turn_back() {
    let hangs = Arc::new(AtomicBool::new(true));
    let flag = hangs.clone();
    let op = move |row: u32| {
        let hang = flag.load(Ordering::SeqCst);
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            if row < 4 { Err(DbError::Down) } else { Ok(row) }
        }
    };
    let breaker = quick();
    let guarded = op.breaker(breaker.clone());
    hangs.store(false, Ordering::SeqCst);
    for row in 0..4 {
        let _ = call(&guarded, row).await;
    }
    hangs.store(true, Ordering::SeqCst);
    // The probe hangs, and its caller gives up on it.
    let probe = tokio::time::timeout(Duration::from_secs(3), call(&guarded, 10)).await;
    assert!(probe.is_err());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    // The next caller probes: the breaker is not stuck half-open.
    hangs.store(false, Ordering::SeqCst);
    assert_eq!(call(&guarded, 11).await.unwrap(), 11);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn several_probes_must_all_succeed() {
    let db = Db::default();
    db.down.store(true, Ordering::SeqCst);
    let breaker = quick().probes(3);
    let guarded = Arc::new(db.store().breaker(breaker.clone()));
    for row in 0..4 {
        let _ = call(&*guarded, row).await;
    }
    db.down.store(false, Ordering::SeqCst);
    db.most_running.store(0, Ordering::SeqCst);
    let callers: Vec<_> = (0..10)
        .map(|row| {
            let guarded = guarded.clone();
            tokio::spawn(async move { call(&*guarded, row).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2_005)).await;
    assert_eq!(db.running.load(Ordering::SeqCst), 3, "three probes at once, no more");
    for caller in callers {
        assert!(caller.await.unwrap().is_ok());
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
}

/// The job the breaker is for: a fan-out into a database that goes down
/// for a minute. Intake pauses (the source is pulled no further than the
/// fan-out's bound), the retry layer spends no retry while the breaker is
/// open, every row is stored once it is back, and the live report shows
/// the breaker open.
#[tokio::test(start_paused = true)]
async fn an_outage_pauses_intake_loses_nothing_and_spends_no_retry() {
    let db = Db::default();
    let breaker = quick();
    let pulled = Arc::new(AtomicU64::new(0));
    let counted = pulled.clone();
    let rows = futures::stream::iter(0..2_000u32).inspect(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let policy = RetryPolicy::constant(Duration::from_millis(100)).max_attempts(3);
    let op = db.store().retry(policy).breaker(breaker.clone());
    let config = FanOut::workers(4).capacity(16);
    let (stored, rows_stored) = sink::collect();
    let handle =
        Pipeline::new(rows).fan_out("store", config, op).discard_failures().sink(stored).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    db.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(breaker.state(), BreakerState::Open);
    let during = handle.report();
    let store = during.stage("store").unwrap();
    assert!(store.gauges.contains(&("breaker_state".to_owned(), 2)), "{:?}", store.gauges);
    let (pulled_then, retries_then, opened_then) =
        (pulled.load(Ordering::SeqCst), during.retries(), breaker.times_opened());
    let finished = during.delivered() + during.discarded();
    assert!(
        pulled_then - finished <= 16 + 4,
        "pulled {pulled_then}, finished {finished}: held past the fan-out's bound\n{during}"
    );
    // A minute of outage. Only the probes (one every 2 s cool-down, each
    // failing and opening it again) reach the database: each may end one
    // row (its attempts spent), which lets one more in; each may be
    // retried once. Nothing else is pulled or retried.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let probes = breaker.times_opened() - opened_then;
    assert!((25..=31).contains(&probes), "{probes} probes in 60 s of 2 s cool-downs");
    assert!(pulled.load(Ordering::SeqCst) - pulled_then <= probes, "intake paused but for the probes");
    assert!(handle.report().retries() - retries_then <= probes, "no retry while open but the probes'");
    db.down.store(false, Ordering::SeqCst);
    let report = handle.join().await.unwrap();
    assert!(report.is_conserved(), "{report}");
    // Rows that failed before the breaker opened (its window holds the
    // half-second of successes before the outage, so it took as many
    // failures to reach one in two), or as its probes, were retried up
    // to three times; those that ran out of attempts were discarded,
    // counted.
    assert_eq!(report.delivered() + report.discarded(), 2_000, "{report}");
    assert_eq!(rows_stored.len() as u64, report.delivered());
    // Once it was open, only the probes' rows spent attempts: each failed
    // probe may have ended one row.
    let probes = breaker.times_opened() - opened_then + 1;
    assert!(report.discarded() - during.discarded() <= probes, "{report}");
    assert!(breaker.times_closed() >= 1);
    assert_eq!(
        report.stage("store").unwrap().gauges.iter().find(|(n, _)| n == "breaker_state").unwrap().1,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_guarded_sink_pauses_intake_and_stores_everything_after_the_outage() {
    let down = Arc::new(AtomicBool::new(false));
    // A sink that fails while down and gives the row back, behind a
    // breaker and a retry layer (the breaker inside).
    let store = weir_testkit::FlakySink::<u32>::failing_when({
        let down = down.clone();
        move |_| down.load(Ordering::SeqCst)
    });
    let accepted = store.accepted();
    let breaker = quick();
    let policy = RetryPolicy::constant(Duration::from_millis(100)).max_attempts(u32::MAX);
    let guarded = weir_retry::RetrySinkExt::retry(store.breaker(breaker.clone()), policy);
    let pulled = Arc::new(AtomicU64::new(0));
    let counted = pulled.clone();
    let source = futures::stream::iter(0..500u32).inspect(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    down.store(true, Ordering::SeqCst);
    let handle = Pipeline::new(source).buffer("queue", 8).sink_named("db", guarded).spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(breaker.state(), BreakerState::Open);
    let pulled_then = pulled.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(pulled.load(Ordering::SeqCst), pulled_then, "intake paused while open");
    assert!(pulled_then <= 16, "the source is pulled no further than the buffer: {pulled_then}");
    down.store(false, Ordering::SeqCst);
    let report = handle.join().await.unwrap();
    assert_eq!(report.delivered(), 500, "{report}");
    assert_eq!(*accepted.lock().unwrap(), (0..500).collect::<Vec<_>>());
}

#[tokio::test]
async fn invalid_settings_are_refused_when_the_pipeline_is_built() {
    let op = |x: u32| async move { Ok::<_, DbError>(x) };
    let err = Pipeline::from_iter(0..3u32)
        .fan_out("store", FanOut::workers(2), op.breaker(Breaker::new().failure_rate(1.5)))
        .discard_failures()
        .sink(sink::drain())
        .run()
        .await
        .unwrap_err();
    let RunError::Build(BuildError::Invalid { stage, message }) = err else { panic!("{err:?}") };
    assert_eq!(stage, "store");
    assert!(message.contains("failure rate 1.5 is not in (0, 1]"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn failures_in_a_row_open_it_whatever_the_rate() {
    let db = Db::default();
    // A long window full of successes: the rate alone would need many
    // failures.
    let breaker = Breaker::new().consecutive_failures(3).window(Duration::from_secs(60));
    let guarded = db.store().breaker(breaker.clone());
    for row in 0..100 {
        call(&guarded, row).await.unwrap();
    }
    db.down.store(true, Ordering::SeqCst);
    for row in 0..2 {
        let _ = call(&guarded, row).await;
    }
    assert_eq!(breaker.state(), BreakerState::Closed, "two in a row");
    let _ = call(&guarded, 2).await;
    assert_eq!(breaker.state(), BreakerState::Open, "three in a row");
}
